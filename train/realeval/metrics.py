"""The metrics of the real-music evaluation, on plain arrays (each with a hand-checkable
definition; ``tests/test_real_eval.py`` checks them against oracles).

Per-item scores (one value per query, track or excerpt) are returned so that model-vs-baseline
differences can go through the paired bootstrap (:func:`compare`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np

from lyrebird.train.probes.metrics import roc_auc_batched
from lyrebird.train.probes.paired import paired_bootstrap


def tag_matrix(label_sets: Sequence[frozenset[str] | set[str]], min_pos: int = 3,
               min_neg: int = 3, vocab: Sequence[str] | None = None
               ) -> tuple[list[str], np.ndarray]:
    """Tags with ≥ ``min_pos`` positive and ≥ ``min_neg`` negative tracks → ``(tags, Y)``.

    ``Y`` is ``(N, C)`` bool; ``vocab`` restricts the candidates (default: every tag seen).
    Tags are sorted by descending positives, then by name.
    """
    n = len(label_sets)
    counts = Counter(t for s in label_sets for t in set(s))
    cand = [t for t in (vocab if vocab is not None else counts) if t in counts]
    keep = [t for t in cand if counts[t] >= min_pos and n - counts[t] >= min_neg]
    keep = sorted(set(keep), key=lambda t: (-counts[t], t))
    y = np.array([[t in s for t in keep] for s in label_sets], bool).reshape(n, len(keep))
    return keep, y


def roc_auc_per_tag(y: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """ROC-AUC of each column of ``scores`` ``(N, C)`` against ``y`` (NaN where undefined)."""
    return np.array([roc_auc_batched(y[:, [c]], scores[None, :, [c]])[0]
                     for c in range(y.shape[1])])


def macro_auc(y: np.ndarray, scores: np.ndarray) -> float:
    """Macro ROC-AUC over the columns that have a positive and a negative row."""
    if y.shape[1] == 0:
        return float("nan")
    return float(roc_auc_batched(y, np.asarray(scores)[None])[0])


def precision_at_k(scores: np.ndarray, relevant: np.ndarray, k: int = 10) -> np.ndarray:
    """Per query ``(Q,)``: precision among the top ``min(k, n_relevant)`` items.

    ``scores`` and ``relevant`` are ``(Q, N)``; queries without a relevant item are NaN. With
    ``k' = min(k, n_relevant)`` a perfect ranking scores 1 even when fewer than ``k`` items are
    relevant (R-precision below ``k``).
    """
    scores = np.asarray(scores, np.float64)
    relevant = np.asarray(relevant, bool)
    out = np.full(len(scores), np.nan)
    for q in range(len(scores)):
        n_rel = int(relevant[q].sum())
        if n_rel == 0:
            continue
        kk = min(k, n_rel)
        top = np.argsort(-scores[q], kind="stable")[:kk]
        out[q] = relevant[q, top].mean()
    return out


def neighbour_precision(vectors: np.ndarray, groups: Sequence[object], k: int = 5
                        ) -> np.ndarray:
    """Per track ``(N,)``: share of its ``min(k, n_same)`` nearest tracks (cosine, itself
    excluded) that share its group; NaN for a track alone in its group."""
    v = np.asarray(vectors, np.float64)
    v = v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)
    sim = v @ v.T
    np.fill_diagonal(sim, -np.inf)
    g = np.asarray([str(x) for x in groups])
    out = np.full(len(v), np.nan)
    for i in range(len(v)):
        same = g == g[i]
        same[i] = False
        n_same = int(same.sum())
        if n_same == 0:
            continue
        top = np.argsort(-sim[i], kind="stable")[: min(k, n_same)]
        out[i] = same[top].mean()
    return out


def identification(query_vecs: np.ndarray, seg_vecs: np.ndarray, seg_track: np.ndarray,
                   truth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Excerpt identification: each track scores its best segment's cosine with the query.

    Returns ``(top1 (Q,) bool, rank (Q,) int)``, rank 1 = the true track came first (ties are
    counted against the query: a tie with another track is not a top-1 hit).
    """
    q = np.asarray(query_vecs, np.float64)
    s = np.asarray(seg_vecs, np.float64)
    q = q / np.maximum(np.linalg.norm(q, axis=1, keepdims=True), 1e-12)
    s = s / np.maximum(np.linalg.norm(s, axis=1, keepdims=True), 1e-12)
    seg_track = np.asarray(seg_track)
    n_tracks = int(seg_track.max()) + 1
    sim = q @ s.T
    best = np.full((len(q), n_tracks), -np.inf)
    for t in range(n_tracks):
        cols = seg_track == t
        if cols.any():
            best[:, t] = sim[:, cols].max(axis=1)
    own = best[np.arange(len(q)), truth]
    rank = 1 + (best > own[:, None]).sum(axis=1)
    ties = (best == own[:, None]).sum(axis=1) - 1
    return (rank == 1) & (ties == 0), rank


def _nanmean_col(_y: np.ndarray, out: np.ndarray) -> float:
    return float(np.nanmean(out[:, 0])) if np.isfinite(out[:, 0]).any() else float("nan")


def compare(per_a: np.ndarray, per_b: np.ndarray, n_boot: int = 1000, seed: int = 0
            ) -> dict[str, float | int]:
    """Paired bootstrap of ``mean(per_a) - mean(per_b)`` over the items both scored."""
    a, b = np.asarray(per_a, np.float64), np.asarray(per_b, np.float64)
    ok = np.isfinite(a) & np.isfinite(b)
    return paired_bootstrap(_nanmean_col, np.zeros(int(ok.sum())), a[ok, None], b[ok, None],
                            n_boot, seed).to_dict()


def compare_auc(y: np.ndarray, s_a: np.ndarray, s_b: np.ndarray, n_boot: int = 1000,
                seed: int = 0) -> dict[str, float | int]:
    """Paired bootstrap (over tracks) of the macro ROC-AUC difference of two score sets."""
    return paired_bootstrap(macro_auc, y, s_a, s_b, n_boot, seed).to_dict()


__all__ = ["compare", "compare_auc", "identification", "macro_auc", "neighbour_precision",
           "precision_at_k", "roc_auc_per_tag", "tag_matrix"]
