"""Stored tag-student probabilities: one row per track (with the student's fingerprint) and one
per segment (:data:`lyrebird.index.store.TRACK_TAGS`, :data:`~lyrebird.index.store.SEGMENT_TAGS`;
the schema is :data:`lyrebird.index.store.SCHEMA`), and the library's tags version, which tag
caches key on. A segment's tags are written with its track's, by the same student."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

import numpy as np

from .store import SEGMENT_TAGS, TRACK_TAGS, valid_ids

TAGS_VERSION = "tags_version"


def set_track_tags(con: sqlite3.Connection, track_id: int, tags: np.ndarray | None,
                   student: str = "") -> None:
    """Store (or, with ``None``, remove) one track's tag-student probabilities, computed by the
    student whose fingerprint is ``student``."""
    con.execute(f"DELETE FROM {TRACK_TAGS} WHERE track_id = ?", (int(track_id),))
    if tags is not None:
        con.execute(f"INSERT INTO {TRACK_TAGS}(track_id, probs, student) VALUES (?, ?, ?)",
                    (int(track_id), np.asarray(tags, np.float32).tobytes(), student))


def tags_version(con: sqlite3.Connection) -> int:
    """How many times stored tags were replaced for tracks that keep their ids (a re-embed, a
    re-tag): tag caches key on it (adding or removing tracks does not change it)."""
    r = con.execute("SELECT value FROM meta WHERE key = ?", (TAGS_VERSION,)).fetchone()
    return int(r[0]) if r else 0


def bump_tags_version(con: sqlite3.Connection) -> None:
    """Mark stored tags as replaced (inside the caller's transaction)."""
    con.execute("INSERT INTO meta(key, value) VALUES (?, '1') ON CONFLICT(key) DO UPDATE "
                "SET value = CAST(value AS INTEGER) + 1", (TAGS_VERSION,))


def tracks_without_tags(con: sqlite3.Connection, student: str) -> list[int]:
    """Ids of the tracks with no tags from the student ``student`` (none stored, another
    student's, or a segment without its own), in id order."""
    q = (f"SELECT t.id FROM tracks t LEFT JOIN {TRACK_TAGS} g ON g.track_id = t.id "
         "WHERE g.track_id IS NULL OR g.student != ? OR EXISTS (SELECT 1 FROM segments s "
         f"LEFT JOIN {SEGMENT_TAGS} st ON st.segment_id = s.id WHERE s.track_id = t.id "
         "AND st.segment_id IS NULL) ORDER BY t.id")
    return [int(r[0]) for r in con.execute(q, (student,))]


def track_tags(con: sqlite3.Connection, ids: list[int]) -> dict[int, np.ndarray]:
    """Stored tag-student probabilities of the tracks ``ids`` that have them (``{}`` for a
    library written before they existed and opened read-only)."""
    ids = valid_ids(ids)
    if not ids:
        return {}
    out: dict[int, np.ndarray] = {}
    try:
        for i in range(0, len(ids), 900):  # SQLite's bound-parameter limit
            part = ids[i:i + 900]
            q = f"SELECT track_id, probs FROM {TRACK_TAGS} WHERE track_id IN ({','.join('?' * len(part))})"
            out.update({int(t): np.frombuffer(p, np.float32).copy() for t, p in con.execute(q, part)})
    except sqlite3.OperationalError as e:
        if "no such table" not in str(e):
            raise
    return out


def set_tags(con: sqlite3.Connection, track_id: int, segment_ids: Sequence[int],
             tags: np.ndarray | None, seg_tags: np.ndarray | None, student: str) -> None:
    """Store a track's tag-student probabilities ``(T,)`` and its segments' ``(S, T)`` (for
    ``segment_ids``, in order), computed by the student with fingerprint ``student`` (inside
    the caller's transaction); with ``tags=None``, remove both."""
    set_track_tags(con, track_id, tags, student)
    set_segment_tags(con, segment_ids, seg_tags if tags is not None else None)


def set_segment_tags(con: sqlite3.Connection, segment_ids: Sequence[int],
                     tags: np.ndarray | None) -> None:
    """Store the tag-student probabilities ``(S, T)`` of the segments ``segment_ids`` (``S``
    ids, in the same order; inside the caller's transaction); with ``None``, or a count that
    does not match, remove theirs (such segments fall back to the head's tags)."""
    ids = [int(i) for i in segment_ids]
    con.executemany(f"DELETE FROM {SEGMENT_TAGS} WHERE segment_id = ?", [(i,) for i in ids])
    if tags is None or len(tags) != len(ids):
        return
    t = np.asarray(tags, np.float32)
    con.executemany(f"INSERT INTO {SEGMENT_TAGS}(segment_id, probs) VALUES (?, ?)",
                    [(i, t[k].tobytes()) for k, i in enumerate(ids)])


def segment_tags(con: sqlite3.Connection, ids: Sequence[int]) -> dict[int, np.ndarray]:
    """Stored tag-student probabilities of the segments ``ids`` that have them (``{}`` for a
    library written before they existed and opened read-only)."""
    ids = valid_ids(list(ids))
    out: dict[int, np.ndarray] = {}
    try:
        for i in range(0, len(ids), 900):  # SQLite's bound-parameter limit
            part = ids[i:i + 900]
            q = (f"SELECT segment_id, probs FROM {SEGMENT_TAGS} "
                 f"WHERE segment_id IN ({','.join('?' * len(part))})")
            out.update({int(s): np.frombuffer(p, np.float32).copy() for s, p in con.execute(q, part)})
    except sqlite3.OperationalError as e:
        if "no such table" not in str(e):
            raise
    return out


__all__ = [
    "TAGS_VERSION",
    "bump_tags_version",
    "segment_tags",
    "set_segment_tags",
    "set_track_tags",
    "tags_version",
    "track_tags",
    "tracks_without_tags",
]
