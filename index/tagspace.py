"""The library in tag space: each track's distilled tag probabilities, and fused search.

When the library's model carries a tag student (:mod:`lyrebird.mulan.tag_student`), each
track's tag probabilities (the teachers' 100 tags) were computed from its audio when it was
added and stored (:data:`lyrebird.index.store.TRACK_TAGS`). Tracks added without one (a library
built before, or by a model without a student) get the tag head's
(:mod:`lyrebird.mulan.tag_head`): every stored 10 s segment vector maps to the same 100
probabilities, and a track's are the mean of its segments' (weighted by their length). Both are
read without an audio model, once per track and head: :data:`TAG_CACHE` keeps them for the
process, shared by every reader of the library (a server's threads each hold one).

Fused text search and similarity follow :mod:`lyrebird.mulan.tag_space` (the one home of the
formulas); the z-scores of the contrastive score use a fixed sample of the library's tracks.
"""

from __future__ import annotations

import sqlite3
import threading
from dataclasses import dataclass, field

import numpy as np

from lyrebird.mulan.tag_space import (
    centred_logits,
    column_weights,
    fused_vectors,
    group_match,
    query_alpha,
    tag_scores,
    tag_stats,
    unit,
)

from . import store, tag_store

STATS_SAMPLE = 4096
"""Tracks whose scores estimate the library-wide mean and spread of a query's scores."""
CANDIDATES = 2000
"""Tracks taken from each space (contrastive nearest, best tag scores) before fusing."""


class TagCache:
    """Track tag probabilities per (library path, head fingerprint, tags version): id →
    ``(T,)`` float32. A new key for a library drops that library's older ones."""

    def __init__(self):
        self._data: dict[tuple, dict[int, np.ndarray]] = {}
        self._lock = threading.Lock()

    def probs(self, key: tuple, con: sqlite3.Connection, head,
              ids: np.ndarray) -> np.ndarray:
        """``(len(ids), T)`` tag probabilities of these tracks: the tag student's, stored at
        ingestion, where the track has them, else computed by the head from its stored segment
        vectors."""
        with self._lock:
            if key not in self._data:
                for k in [k for k in self._data if k[0] == key[0]]:
                    del self._data[k]
            have = self._data.setdefault(key, {})
            missing = [int(i) for i in ids if int(i) not in have]
        if missing:
            stored = {t: p for t, p in tag_store.track_tags(con, missing).items()
                      if len(p) == len(head.names)}
            missing = [i for i in missing if i not in stored]
            with self._lock:
                have.update(stored)
        if missing:
            new = {}
            segs = store.track_segment_arrays(con, missing)
            # one batch through the head for every segment (not one small product per track)
            allp = head.probs(np.concatenate([np.asarray(v, np.float32).reshape(
                -1, head.cfg.dim) for _, v in segs.values()])) if segs else None
            at = 0
            for tid, (times, vecs) in segs.items():
                p, at = allp[at:at + len(vecs)], at + len(vecs)
                w = np.maximum(times[:, 1] - times[:, 0], 1e-3)
                new[tid] = (w[:, None] * p).sum(0) / w.sum() if len(p) else \
                    np.zeros(len(head.names), np.float32)
            with self._lock:
                have.update(new)
        with self._lock:
            zero = np.zeros(len(head.names), np.float32)
            return np.stack([have.get(int(i), zero) for i in ids]) if len(ids) else \
                np.zeros((0, len(head.names)), np.float32)


TAG_CACHE = TagCache()


@dataclass
class TagSpace:
    """One library's tag state: all committed track ``ids (N,)``, their tag ``probs (N, T)``,
    the text vectors of the tag groups' names ``groups (G, K, D)`` (every language and
    synonym; :func:`lyrebird.mulan.tag_head.tag_groups`), the group of each output
    ``col_group (T,)`` and a sample of track vectors ``sample (S, D)`` for score statistics."""

    ids: np.ndarray
    probs: np.ndarray
    groups: np.ndarray
    col_group: np.ndarray
    sample: np.ndarray
    head: object
    segments: tuple[np.ndarray, np.ndarray] | None = field(default=None, repr=False)
    """A sample of segment vectors ``(S, D)`` and their tag probabilities ``(S, T)`` (moment
    search's statistics; filled on first use by :func:`segment_sample`)."""
    stats: tuple[np.ndarray, np.ndarray] | None = field(default=None, repr=False)
    """Per-tag logit mean and spread over the library's tracks (the ``z`` tag score's
    reference, :func:`lyrebird.mulan.tag_space.tag_stats`; tracks and segments alike; made on
    first use by a ``z`` head)."""

    def tag_scores(self, q: np.ndarray, probs: np.ndarray) -> np.ndarray:
        """A unit query ``(D,)`` → the tag scores ``(N,)`` of tag probabilities ``(N, T)``
        (the head's ``tag_score``)."""
        w = column_weights(q[None], self.groups, self.col_group)
        kind = getattr(self.head.cfg, "tag_score", "sum")
        if kind == "z" and self.stats is None:
            self.stats = tag_stats(self.probs)
        return tag_scores(probs, w, kind, self.stats)[:, 0]

    def text_scores(self, q: np.ndarray) -> tuple[np.ndarray, float, float]:
        """A unit query ``(D,)`` → tag scores ``(N,)`` of all tracks, and the mean and spread
        of its contrastive cosine over the sample."""
        tag = self.tag_scores(q, self.probs)
        cos = self.sample @ q if len(self.sample) else np.zeros(1)
        return tag, float(cos.mean()), float(cos.std() + 1e-9)

    def query_alpha(self, q: np.ndarray) -> float:
        """The contrastive weight for the unit query ``(D,)``: the head's ``alpha``, or more
        when the query matches no tag concept well (:func:`lyrebird.mulan.tag_space.
        query_alpha` with the head's ``match_full``)."""
        cfg = self.head.cfg
        full = float(getattr(cfg, "match_full", 0.0))
        if full <= 0:
            return float(cfg.alpha)
        return float(query_alpha(cfg.alpha, group_match(q[None], self.groups), full)[0])

    def fused(self, vectors: np.ndarray, probs: np.ndarray) -> np.ndarray:
        """Fused similarity vectors ``(N, D + T)`` (:func:`lyrebird.mulan.tag_space.
        fused_vectors`) with the head's weight and centre."""
        return fused_vectors(vectors, probs, self.head.cfg.beta, self.head.mean_logit)


def build(con: sqlite3.Connection, key: tuple, head, groups: np.ndarray,
          col_group: np.ndarray, seed: int = 0) -> TagSpace:
    """The :class:`TagSpace` of the library on ``con`` (``key``: library path, head
    fingerprint and :func:`lyrebird.index.tag_store.tags_version`, for :data:`TAG_CACHE`)."""
    ids = np.array(sorted(store.row_ids(con, "tracks")), np.int64)
    probs = TAG_CACHE.probs(key, con, head, ids)
    rng = np.random.default_rng(seed)
    pick = np.sort(rng.choice(ids, min(len(ids), STATS_SAMPLE), replace=False)) if len(ids) \
        else ids
    sample = store.vectors_by_id(con, "tracks", pick) if len(pick) else np.zeros((0, 1))
    return TagSpace(ids, probs.astype(np.float32), groups, col_group, unit(sample), head)


def segment_probs(con: sqlite3.Connection, head, ids: np.ndarray, vectors: np.ndarray
                  ) -> np.ndarray:
    """``(N, T)`` tag probabilities of the segments ``ids``: the tag student's, stored at
    ingestion, where the segment has them, else the head's of its stored vector
    (``vectors (N, D)``, in the same order)."""
    stored = tag_store.segment_tags(con, [int(i) for i in ids])
    out = np.empty((len(ids), len(head.names)), np.float32)
    todo = []
    for j, i in enumerate(ids):
        p = stored.get(int(i))
        if p is not None and len(p) == len(head.names):
            out[j] = p
        else:
            todo.append(j)
    if todo:
        out[todo] = head.probs(np.asarray(vectors, np.float32)[todo])
    return out


def segment_sample(space: TagSpace, con: sqlite3.Connection, seed: int = 0
                   ) -> tuple[np.ndarray, np.ndarray]:
    """A fixed sample of the library's segments (:data:`STATS_SAMPLE`): unit vectors
    ``(S, D)`` and tag probabilities ``(S, T)``, kept on ``space``."""
    if space.segments is None:
        ids = np.array(sorted(store.row_ids(con, "segments")), np.int64)
        pick = np.sort(np.random.default_rng(seed).choice(
            ids, min(len(ids), STATS_SAMPLE), replace=False)) if len(ids) else ids
        vecs = store.vectors_by_id(con, "segments", pick) if len(pick) else \
            np.zeros((0, space.sample.shape[1]), np.float32)
        space.segments = (unit(vecs), segment_probs(con, space.head, pick, vecs))
    return space.segments


def centred(space: TagSpace, probs: np.ndarray) -> np.ndarray:
    """Centred tag logits of ``probs (N, T)`` with the head's centre."""
    return centred_logits(probs, space.head.mean_logit)


__all__ = ["CANDIDATES", "STATS_SAMPLE", "TAG_CACHE", "TagCache", "TagSpace", "build",
           "centred", "segment_probs", "segment_sample"]
