"""Search in tag space, and its fusion with the contrastive space (the one home of both).

- **Text → tags**: a query is matched to the tag names through the text tower; its weights
  over the tags are ``softmax(cos(query, name) / TEMPERATURE)``, with each tag's name taken
  in all four languages (the best-matching language counts). With ``tag_score="sum"`` a track
  scores the weighted sum of its tag probabilities (:func:`keyword_scores`): how musicnn-based
  library tools search, and the ``teacher-keyword`` peer of ``lyrebird eval real``; it acts as
  a soft OR, so "heavy metal with distorted guitars" ranks any guitar-heavy track beside the
  metal. With ``tag_score="log"`` it scores the weighted sum of the *log* probabilities
  (floored at :data:`LOG_FLOOR`; the log of a weighted geometric mean), a soft AND: a track
  must carry every concept the query names (:func:`tag_scores`). With ``tag_score="z"`` each
  tag's logit is first standardised over the library's tracks (:func:`tag_stats`), so a concept
  scores how far a track stands out from the library in it, not its raw probability: a tag
  that most tracks carry ("guitar" in a library of guitar music) weighs less beside a rarer one
  ("metal") that the query also names, as a term's rarity does in text retrieval.
- **Fused text search**: each score is z-scored over the library's tracks for the query, then
  ``alpha · z(contrastive cosine) + (1 − alpha) · z(tag score)`` (:func:`fuse`). With
  ``match_full`` > 0 the weight is per query (:func:`query_alpha`): a query whose best tag
  concept takes less than ``match_full`` of its softmax weight ("Irish hornpipe on a tin
  whistle": no tag names it) leans on the contrastive space, up to ``alpha = 1`` when it
  matches no tag at all.
- **Fused similarity**: a track is ``[√beta · v̂, √(1 − beta) · ĉ]`` with ``v̂`` its unit
  contrastive vector and ``ĉ`` its unit *centred tag logits* (logits minus the library's
  mean logit), so the cosine of two fused vectors is ``beta · cos(v) + (1 − beta) · cos(c)``
  (:func:`fused_vectors`).

Weights ``alpha`` and ``beta`` are chosen on the real corpus's valid split and stored with the
tag head (:class:`FusionWeights`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

TEMPERATURE = 0.05
"""Softmax temperature of the query's weights over the tag names (cosine units)."""

EPS = 1e-6

LOG_FLOOR = 1e-3
"""Probability floor of the ``log`` tag score (a tag the student calls absent costs at most
``log(1e-3)`` ≈ −6.9 times its query weight)."""

SD_FLOOR = 0.1
"""Smallest spread (logit units) of the ``z`` tag score's per-tag standardisation."""

TAG_SCORES = ("sum", "log", "z")
"""Tag-space text scores (:func:`tag_scores`)."""


@dataclass(frozen=True)
class FusionWeights:
    """``alpha``: weight of the contrastive score in text search; ``beta``: weight of the
    contrastive vector in similarity (1: contrastive only, 0: tags only); ``match_full``: the
    share of a query's tag weight its best concept needs for the full tag share (0: off; see
    :func:`query_alpha`)."""

    alpha: float = 0.5
    beta: float = 0.5
    match_full: float = 0.0


def unit(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit L2 norm (zero rows stay zero)."""
    x = np.asarray(x, np.float32)
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


def softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    z = x - x.max(axis=axis, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=axis, keepdims=True)


def logits(p: np.ndarray, eps: float = EPS) -> np.ndarray:
    """Probabilities → logits ``log(p / (1 − p))``, ``p`` clipped to ``[eps, 1 − eps]``."""
    p = np.clip(np.asarray(p, np.float64), eps, 1 - eps)
    return np.log(p) - np.log1p(-p)


def keyword_weights(queries: np.ndarray, names: np.ndarray,
                    temperature: float = TEMPERATURE) -> np.ndarray:
    """Unit query vectors ``(Q, D)`` and unit tag-name vectors ``(T, D)`` or ``(T, L, D)`` (a
    name per language; the best match counts) → ``(Q, T)`` softmax weights over the tags."""
    q = unit(queries).astype(np.float64)
    n = np.asarray(names, np.float64)
    cos = np.einsum("qd,tld->qtl", q, n).max(-1) if n.ndim == 3 else q @ n.T
    return softmax(cos / temperature, axis=1)


def group_vectors(vectors: list[np.ndarray]) -> np.ndarray:
    """Ragged ``[(K_g, D)]`` name vectors per group → ``(G, K, D)``, padded by repeating each
    group's first name (the best match is unchanged)."""
    k = max(len(v) for v in vectors)
    return np.stack([np.concatenate([v, np.repeat(v[:1], k - len(v), 0)]) for v in vectors])


def column_weights(queries: np.ndarray, groups: np.ndarray, col_group: np.ndarray,
                   temperature: float = TEMPERATURE) -> np.ndarray:
    """:func:`keyword_weights` over tag *groups* ``(G, K, D)`` (a concept's names in every
    language and synonym), spread evenly over each group's outputs: ``(Q, T)`` weights for
    outputs whose group is ``col_group (T,)``. A tag given twice is not weighted twice."""
    w = keyword_weights(queries, groups, temperature)
    counts = np.bincount(col_group, minlength=w.shape[1])
    return w[:, col_group] / counts[col_group]


def group_match(queries: np.ndarray, groups: np.ndarray,
                temperature: float = TEMPERATURE) -> np.ndarray:
    """``(Q,)``: the weight the best-matching tag concept takes of each unit query ``(Q, D)``
    (:func:`keyword_weights` over the groups ``(G, K, D)``; 1/G when nothing stands out)."""
    return keyword_weights(queries, groups, temperature).max(axis=1)


def query_alpha(alpha: float, match: np.ndarray, match_full: float) -> np.ndarray:
    """``(Q,)`` contrastive weights: ``alpha`` where a query's best concept takes at least
    ``match_full`` of its weight (:func:`group_match`), rising linearly to 1 as that share
    falls to 0; ``alpha`` everywhere when ``match_full`` ≤ 0."""
    match = np.asarray(match, np.float64)
    if match_full <= 0:
        return np.full(match.shape, float(alpha))
    g = np.clip(match / match_full, 0.0, 1.0)
    return float(alpha) + (1.0 - float(alpha)) * (1.0 - g)


def keyword_scores(probs: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Tag probabilities ``(N, T)`` and query weights ``(Q, T)`` → ``(N, Q)`` scores."""
    return np.asarray(probs, np.float64) @ np.asarray(weights, np.float64).T


def tag_stats(probs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-tag mean ``(T,)`` and spread ``(T,)`` (at least :data:`SD_FLOOR`) of the logits of
    ``(N, T)`` probabilities: the ``z`` tag score's reference (a library's tracks)."""
    lg = logits(probs)
    if not len(lg):
        return np.zeros(lg.shape[1]), np.ones(lg.shape[1])
    return lg.mean(axis=0), np.maximum(lg.std(axis=0), SD_FLOOR)


def tag_scores(probs: np.ndarray, weights: np.ndarray, kind: str = "sum",
               stats: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """Tag probabilities ``(N, T)`` and query weights ``(Q, T)`` → ``(N, Q)`` tag-space scores:
    ``"sum"`` the weighted sum of probabilities (:func:`keyword_scores`, a soft OR), ``"log"``
    the weighted sum of log probabilities floored at :data:`LOG_FLOOR` (a soft AND), ``"z"``
    the weighted sum of standardised logits ``(logit − mean) / spread``, with the reference
    ``stats`` of :func:`tag_stats` (default: of ``probs`` itself)."""
    if kind == "sum":
        return keyword_scores(probs, weights)
    if kind == "log":
        lp = np.log(np.clip(np.asarray(probs, np.float64), LOG_FLOOR, 1.0))
        return lp @ np.asarray(weights, np.float64).T
    if kind == "z":
        mu, sd = tag_stats(probs) if stats is None else stats
        return ((logits(probs) - mu) / sd) @ np.asarray(weights, np.float64).T
    raise ValueError(f"tag score {kind!r}: expected one of {TAG_SCORES}")


def zscore(s: np.ndarray, axis: int = 0) -> np.ndarray:
    """Scores standardised along ``axis`` (the tracks), so two kinds of score can be added."""
    s = np.asarray(s, np.float64)
    return (s - s.mean(axis=axis, keepdims=True)) / (s.std(axis=axis, keepdims=True) + 1e-9)


def fuse(contrastive: np.ndarray, tags: np.ndarray, alpha: float | np.ndarray) -> np.ndarray:
    """``(N, Q)`` contrastive cosines and ``(N, Q)`` tag scores → fused ``(N, Q)`` scores
    (each z-scored over the N tracks; ``alpha``, one or ``(Q,)`` per query, weighs the
    contrastive one)."""
    a = np.asarray(alpha, np.float64)
    if a.ndim == 0:
        if a >= 1.0:
            return np.asarray(contrastive, np.float64)
        if a <= 0.0:
            return np.asarray(tags, np.float64)
    return a * zscore(contrastive) + (1.0 - a) * zscore(tags)


def centred_logits(probs: np.ndarray, mean_logit: np.ndarray | None = None) -> np.ndarray:
    """``(N, T)`` probabilities → logits minus ``mean_logit`` (default: their own mean)."""
    lg = logits(probs)
    mu = lg.mean(axis=0) if mean_logit is None else np.asarray(mean_logit, np.float64)
    return (lg - mu).astype(np.float32)


def fused_vectors(vectors: np.ndarray, probs: np.ndarray, beta: float,
                  mean_logit: np.ndarray) -> np.ndarray:
    """``(N, D)`` contrastive vectors and their ``(N, T)`` tag probabilities → ``(N, D + T)``
    unit vectors whose cosine is ``beta · cos(v) + (1 − beta) · cos(centred logits)``."""
    v = unit(vectors) * np.sqrt(max(beta, 0.0))
    c = unit(centred_logits(probs, mean_logit)) * np.sqrt(max(1.0 - beta, 0.0))
    return np.concatenate([v, c], axis=1).astype(np.float32)


__all__ = [
    "LOG_FLOOR",
    "SD_FLOOR",
    "TAG_SCORES",
    "TEMPERATURE",
    "FusionWeights",
    "centred_logits",
    "column_weights",
    "fuse",
    "fused_vectors",
    "group_match",
    "group_vectors",
    "keyword_scores",
    "keyword_weights",
    "logits",
    "query_alpha",
    "softmax",
    "tag_scores",
    "tag_stats",
    "unit",
    "zscore",
]
