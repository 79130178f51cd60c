"""Moments: where in a track a vector matches, for the read side (:mod:`.reader`).

A track's segment arrays come from :data:`SEGMENT_CACHE` or SQLite (:func:`segment_arrays`);
:func:`best_segments` picks each track's segment closest to a vector (the ``start_s``/``end_s``
of a hit or a playlist item); :func:`segment_matches` searches the segment index with the
segments of an audio query, for :meth:`.reader.LibraryReader.search_audio`.

:func:`fused_moments` ranks a text query's moments, and :func:`best_fused_segments` picks a
text hit's moment, in both spaces when the model has a tag
head: a segment scores as a track does in text search (:mod:`lyrebird.mulan.tag_space`),
``alpha · z(cosine) + (1 − alpha) · z(tag score)``, ``alpha`` per query, the z-scores taken over
a fixed sample of the library's segments (:func:`lyrebird.index.tagspace.segment_sample`). A
segment's tags are its tag student's, stored at ingestion (:mod:`.tag_store`), else the head's
of its stored vector: no audio model runs. Candidates are the segments nearest the query by
cosine and every segment of the tracks with the best tag scores (:data:`SEGMENT_TRACKS`), so
a moment in a track that scores poorly as a whole can be missed by the tag side.
"""

from __future__ import annotations

import sqlite3

import numpy as np

from . import store, tagspace
from .caches import SegmentCache
from .indexes import LibraryIndexes
from .types import TrackRow

SEGMENT_CANDIDATES = 50
"""Segments fetched per query segment."""
MAX_QUERY_SEGMENTS = 16
"""Query segments searched at most (evenly spread over a long query)."""

SEGMENT_CACHE = SegmentCache()
"""Segment vectors of recently shown tracks, shared by every reader of the process (a server's
threads each hold one), keyed by library, model fingerprint, track id and content hash."""

Arrays = tuple[np.ndarray, np.ndarray]
"""A track's segments: ``(times (S, 2), vectors (S, DIM))`` in time order."""


def segment_arrays(con: sqlite3.Connection, key: tuple[str, str], rows: dict[int, TrackRow]
                   ) -> dict[int, Arrays]:
    """Segment times and vectors of these tracks (``key``: library path and model fingerprint),
    from :data:`SEGMENT_CACHE` or SQLite."""
    out, missing = {}, []
    for tid, r in rows.items():
        got = SEGMENT_CACHE.get((*key, tid, r.content_hash))
        if got is None:
            missing.append(tid)
        else:
            out[tid] = got
    for tid, v in store.track_segment_arrays(con, missing).items():
        SEGMENT_CACHE.put((*key, tid, rows[tid].content_hash), v)
        out[tid] = v
    return out


def best_segments(con: sqlite3.Connection, key: tuple[str, str], rows: dict[int, TrackRow],
                  q: np.ndarray) -> dict[int, tuple[float, float]]:
    """Track id → ``(start_s, end_s)`` of its segment closest to ``q`` (the first of ties)."""
    out = {}
    for tid, (times, vecs) in segment_arrays(con, key, rows).items():
        i = int(np.argmax(vecs @ q))
        out[tid] = (float(times[i, 0]), float(times[i, 1]))
    return out


def segment_matches(con: sqlite3.Connection, indexes: LibraryIndexes, segs: np.ndarray
                    ) -> tuple[list[dict[int, float]], list[float], dict[int, tuple[float, ...]]]:
    """Search the segment index with a query's segments ``(S, DIM)`` (at most
    :data:`MAX_QUERY_SEGMENTS`, evenly spread), :data:`SEGMENT_CANDIDATES` each →
    ``(best, floor, moment)``: per query segment, ``{track id: its best segment's cosine}`` and
    the lowest cosine fetched (the score of a track none of whose segments was found); and per
    track, ``(cosine, start_s, end_s)`` of its segment that matched best."""
    best: list[dict[int, float]] = []
    floor: list[float] = []
    moment: dict[int, tuple[float, float, float]] = {}
    n_s = indexes.index("segments").ntotal
    if not n_s or not len(segs):
        return best, floor, moment
    pick = np.unique(np.linspace(0, len(segs) - 1, MAX_QUERY_SEGMENTS).round().astype(int))
    scores, ids = indexes.knn("segments", segs[pick], min(n_s, SEGMENT_CANDIDATES))
    info = store.segments_info(con, [int(i) for i in np.unique(ids) if i >= 0])
    for row_s, row_i in zip(scores, ids, strict=True):
        found: dict[int, float] = {}
        for s, i in zip(row_s, row_i, strict=True):
            if int(i) not in info:
                continue
            tid, a, b = info[int(i)]
            found[tid] = max(found.get(tid, -1.0), float(s))
            if s > moment.get(tid, (-2.0,))[0]:
                moment[tid] = (float(s), a, b)
        best.append(found)
        floor.append(float(row_s[row_i >= 0].min()) if (row_i >= 0).any() else 0.0)
    return best, floor, moment


SEGMENT_TRACKS = 100
"""Tracks, best by tag score, whose segments join the candidates of a fused moment search."""


def fused_scores(con: sqlite3.Connection, space: tagspace.TagSpace, q: np.ndarray,
                 vecs: np.ndarray, probs: np.ndarray) -> np.ndarray:
    """Fused scores ``(N,)`` of segments with unit vectors ``vecs (N, D)`` and tag
    probabilities ``probs (N, T)`` for the unit text query ``q (D,)`` (z over the library's
    segment sample)."""
    sample_vecs, sample_probs = tagspace.segment_sample(space, con)
    cos, tag = vecs @ q, space.tag_scores(q, probs)
    cs = sample_vecs @ q if len(sample_vecs) else cos
    ts = space.tag_scores(q, sample_probs) if len(sample_probs) else tag
    a = space.query_alpha(q)
    return a * (cos - cs.mean()) / (cs.std() + 1e-9) + \
        (1 - a) * (tag - ts.mean()) / (ts.std() + 1e-9)


def fused_moments(con: sqlite3.Connection, indexes: LibraryIndexes, space: tagspace.TagSpace,
                  q: np.ndarray, k: int) -> list[tuple[int, float]]:
    """The ``k`` best ``(segment id, fused score)`` for the unit text query ``q (D,)``."""
    indexes.refresh()
    n = indexes.index("segments").ntotal
    if n == 0 or len(space.ids) == 0:
        return []
    _, near = indexes.knn("segments", q, min(n, tagspace.CANDIDATES))
    track_tag, _, _ = space.text_scores(q)
    best = space.ids[np.argsort(-track_tag)[:SEGMENT_TRACKS]].tolist()
    of_best = [i for ids in store.track_segment_ids(con, best).values() for i in ids]
    cand = np.unique(np.concatenate([near[near >= 0], of_best]).astype(np.int64))
    if len(cand) == 0:
        return []
    vecs = store.vectors_by_id(con, "segments", cand)
    score = fused_scores(con, space, q, vecs, tagspace.segment_probs(con, space.head, cand, vecs))
    top = np.argsort(-score)[:k]
    return [(int(cand[j]), float(score[j])) for j in top]


def best_fused_segments(con: sqlite3.Connection, key: tuple[str, str],
                        rows: dict[int, TrackRow], q: np.ndarray, space: tagspace.TagSpace
                        ) -> dict[int, tuple[float, float]]:
    """Track id → ``(start_s, end_s)`` of its segment with the best fused score for the unit
    text query ``q`` (:func:`best_segments` in both spaces: a text hit's moment)."""
    arrays = segment_arrays(con, key, rows)
    ids = store.track_segment_ids(con, list(arrays))
    tids = [t for t in arrays if len(ids.get(t, ())) == len(arrays[t][1]) > 0]
    if not tids:
        return {}
    flat = np.array([i for t in tids for i in ids[t]], np.int64)
    vecs = np.concatenate([arrays[t][1] for t in tids])
    score = fused_scores(con, space, q, vecs, tagspace.segment_probs(con, space.head, flat, vecs))
    out, at = {}, 0
    for t in tids:
        times = arrays[t][0]
        i = int(np.argmax(score[at:at + len(times)]))
        out[t] = (float(times[i, 0]), float(times[i, 1]))
        at += len(times)
    return out


__all__ = [
    "MAX_QUERY_SEGMENTS",
    "SEGMENT_CACHE",
    "SEGMENT_CANDIDATES",
    "SEGMENT_TRACKS",
    "best_fused_segments",
    "best_segments",
    "fused_moments",
    "fused_scores",
    "segment_arrays",
    "segment_matches",
]
