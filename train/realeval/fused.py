"""The model under test as a library serves it: contrastive space fused with its tag head.

A MuLan that carries a distilled tag head (:mod:`lyrebird.mulan.tag_head`) searches with fused
scores in a library (:mod:`lyrebird.index.tagspace`). :class:`FusedEval` gives the evaluation
the same behaviour, with the same formulas (:mod:`lyrebird.mulan.tag_space`):

- text tasks: ``alpha · z(cosine) + (1 − alpha) · z(tag score)``, z over the split's tracks
  (``alpha`` per query with the head's ``match_full``: :func:`lyrebird.mulan.tag_space.
  query_alpha`; the tag score is the head's ``tag_score``: :func:`lyrebird.mulan.tag_space.
  tag_scores`);
- similar tracks: cosine of fused vectors (``beta`` contrastive share); excerpts stay in the
  contrastive space, as a library's audio queries do.

A track's tag probabilities are its tag student's (the mean of its segments', as a library
stores them at ingestion) when the MuLan carries a student, else the mean of the head's
probabilities of its segment vectors (as a library computes them for tracks without).
Spec forms (:func:`lyrebird.train.realeval.models.parse_model`): a MuLan spec with a head is
fused with the head's stored weights; ``fused:<alpha>,<beta>:<spec>`` sets the weights (the
selection grid on valid); ``contrastive:<spec>`` switches the head off.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from lyrebird.mulan.tag_head import TagHead, tag_groups
from lyrebird.mulan.tag_space import (
    column_weights,
    fuse,
    fused_vectors,
    group_match,
    group_vectors,
    query_alpha,
    tag_scores,
    unit,
)


class FusedEval:
    """Wraps a MuLan library model (``embed_windows``, ``embed_text``) and its ``head``."""

    def __init__(self, model, head: TagHead, alpha: float, beta: float, student: bool = True,
                 match_full: float | None = None, tag_score: str | None = None):
        self.model, self.head, self.student = model, head, bool(student)
        self.alpha, self.beta = float(alpha), float(beta)
        self.match_full = float(getattr(head.cfg, "match_full", 0.0) if match_full is None
                                else match_full)
        self.tag_score = tag_score or getattr(head.cfg, "tag_score", "sum")
        self.SAMPLE_RATE, self.DIM = model.SAMPLE_RATE, model.DIM
        self.name = f"{model.name}+tags"
        self._probs: np.ndarray | None = None
        self._groups: tuple[np.ndarray, np.ndarray] | None = None

    @property
    def has_text(self) -> bool:
        return True

    def fingerprint(self) -> str:
        """The vectors are the wrapped model's: its fingerprint keys the embedding cache."""
        return self.model.fingerprint()

    def embed_windows(self, audio: np.ndarray, valid: np.ndarray) -> np.ndarray:
        return self.model.embed_windows(audio, valid)

    def embed_text(self, texts: list[str]) -> np.ndarray:
        return self.model.embed_text(texts)

    def tag_segments(self, audio: np.ndarray, valid: np.ndarray) -> np.ndarray | None:
        """The wrapped model's tag-student probabilities of ``(B, L)`` windows, or ``None``."""
        fn = getattr(self.model, "tag_segments", None) if self.student else None
        return fn(audio, valid) if fn is not None else None

    def tag_fingerprint(self) -> str | None:
        """The tag student's fingerprint (keys its cached tags), or ``None`` without one."""
        student = getattr(self.model, "tag_student", None) if self.student else None
        return student.fingerprint() if student is not None else None

    def track_probs(self, v: Any) -> np.ndarray:
        """``(N, T)``: each track's tag probabilities: the student's (``v.tags``) when there
        are, else the mean of its segments' head probabilities."""
        if getattr(v, "tags", None) is not None and v.tags.shape[1] == len(self.head.names):
            return np.asarray(v.tags, np.float32)
        p = self.head.probs(v.seg)
        out = np.zeros((len(v.track), p.shape[1]), np.float64)
        np.add.at(out, v.seg_track, p)
        n = np.bincount(v.seg_track, minlength=len(v.track))[:, None]
        return (out / np.maximum(n, 1)).astype(np.float32)

    def prepare_vectors(self, v: Any) -> Any:
        """Fused vectors for the audio tasks (a :class:`lyrebird.train.realeval.embed.Vectors`
        in, one out); remembers the tracks' contrastive vectors and tag probabilities for
        :meth:`text_scores`."""
        probs = self.track_probs(v)
        self._probs, self._vecs = probs, unit(v.track)
        mu = self.head.mean_logit
        # track-to-track similarity is fused; excerpts stay in the contrastive space, as the
        # library's audio queries do (segments and queries: unit vectors, zero tag part)
        pad = np.zeros((1, probs.shape[1]), np.float32)
        return replace(v, seg=np.concatenate([unit(v.seg), pad.repeat(len(v.seg), 0)], 1),
                       track=fused_vectors(v.track, probs, self.beta, mu),
                       query=np.concatenate([unit(v.query), pad.repeat(len(v.query), 0)], 1))

    def _group_vectors(self) -> tuple[np.ndarray, np.ndarray]:
        if self._groups is None:
            names, col = tag_groups(self.head.names)
            self._groups = (group_vectors([unit(self.model.embed_text(g)) for g in names]), col)
        return self._groups

    def text_scores(self, tracks: np.ndarray, texts: list[str]) -> np.ndarray:
        """``(N, Q)`` fused scores of the prepared tracks for each text."""
        if self._probs is None or len(self._probs) != len(tracks):
            raise RuntimeError("FusedEval.text_scores needs prepare_vectors on the same split")
        q = unit(np.asarray(self.model.embed_text(list(texts)), np.float32))
        cos = self._vecs.astype(np.float64) @ q.T.astype(np.float64)
        groups, col = self._group_vectors()
        # the z score's reference is the split's tracks, as a library's is its tracks
        tag = tag_scores(self._probs, column_weights(q, groups, col), self.tag_score)
        return fuse(cos, tag, query_alpha(self.alpha, group_match(q, groups), self.match_full))


__all__ = ["FusedEval"]
