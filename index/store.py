"""The library's SQLite database: tracks, segments (with their vectors) and meta.

SQLite is the source of truth. Vectors are stored with their rows (track vectors as float32,
segment vectors as float16), so the FAISS files are a derived index that can always be rebuilt
from committed rows; anything not committed here does not exist.

Every SQL statement of ``lyrebird.index`` lives in this module; the others call its functions
with the connection from :func:`connect`. Writes run inside :func:`immediate`.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from .types import LibraryError, TrackRow

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS tracks (
    id INTEGER PRIMARY KEY,
    path TEXT NOT NULL,
    content_hash TEXT NOT NULL UNIQUE,
    duration_s REAL NOT NULL,
    title TEXT, artist TEXT, genre TEXT,
    file_tags TEXT NOT NULL DEFAULT '{}',
    zs_tags TEXT NOT NULL DEFAULT '{}',
    added_at REAL NOT NULL,
    vector BLOB NOT NULL,
    file_size INTEGER, file_mtime_ns INTEGER
);
CREATE TABLE IF NOT EXISTS segments (
    id INTEGER PRIMARY KEY,
    track_id INTEGER NOT NULL REFERENCES tracks(id) ON DELETE CASCADE,
    start_s REAL NOT NULL,
    end_s REAL NOT NULL,
    vector BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS segments_track ON segments(track_id);
CREATE TABLE IF NOT EXISTS track_tags (
    track_id INTEGER PRIMARY KEY REFERENCES tracks(id) ON DELETE CASCADE,
    probs BLOB NOT NULL,
    student TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS segment_tags (
    segment_id INTEGER PRIMARY KEY REFERENCES segments(id) ON DELETE CASCADE,
    probs BLOB NOT NULL
);
"""
TRACK_TAGS = "track_tags"
SEGMENT_TAGS = "segment_tags"
"""Each track's and each segment's tag-student probabilities (float32; the track row also holds
the fingerprint of the student that computed both), when the library's model has a student
(:mod:`lyrebird.mulan.tag_student`; read and written by :mod:`.tag_store`); tracks and segments
without a row get the tag head's (from vectors)."""


def connect(path: Path, readonly: bool = False) -> sqlite3.Connection:
    """Open the database in WAL mode (readers never block on the writer).

    Raises :class:`LibraryError` naming the file when it is not an SQLite database (or is
    damaged beyond opening), instead of ``sqlite3.DatabaseError``."""
    try:
        return _connect(path, readonly)
    except sqlite3.DatabaseError as e:
        if isinstance(e, sqlite3.OperationalError) and not _corrupt(e):
            raise
        raise LibraryError(
            f"'{path}': not a readable SQLite database ({e}). It is the library's source of "
            f"truth: restore it from a backup, or move it aside, `lyrebird index create` the "
            f"library again and `lyrebird index sync` your folders; `lyrebird index check "
            f"{Path(path).parent}` shows what is wrong") from None


def _corrupt(e: sqlite3.DatabaseError) -> bool:
    m = str(e).lower()
    return any(w in m for w in ("not a database", "malformed", "corrupt"))


def _connect(path: Path, readonly: bool) -> sqlite3.Connection:
    if readonly:
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30,
                              check_same_thread=False)
    else:
        con = sqlite3.connect(path, timeout=30, check_same_thread=False)
        con.execute("PRAGMA journal_mode=WAL")
        con.execute("PRAGMA synchronous=FULL")
        con.executescript(SCHEMA)
        _migrate(con)
    con.execute("PRAGMA foreign_keys=ON")
    con.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()  # a file that is no database
    return con


def _migrate(con: sqlite3.Connection) -> None:
    """Add what later releases need to a database written by an earlier one: the stat
    columns, the tag student's fingerprint of stored tags, and the id counters (``last_track_id``, ``last_segment_id``: ids are never
    reused, see :func:`_new_ids`) started at the highest id in use."""
    cols = {r[1] for r in con.execute("PRAGMA table_info(tracks)")}
    for col in ("file_size", "file_mtime_ns"):  # for sync: unchanged files are not re-hashed
        if col not in cols:
            con.execute(f"ALTER TABLE tracks ADD COLUMN {col} INTEGER")
    if "student" not in {r[1] for r in con.execute(f"PRAGMA table_info({TRACK_TAGS})")}:
        con.execute(f"ALTER TABLE {TRACK_TAGS} ADD COLUMN student TEXT NOT NULL DEFAULT ''")
    have = {r[0] for r in con.execute("SELECT key FROM meta")}
    for table, key in ID_KEYS.items():
        if key not in have:  # written only once: opening takes no write lock after that
            (mx,) = con.execute(f"SELECT COALESCE(MAX(id), 0) FROM {table}").fetchone()
            con.execute("INSERT OR IGNORE INTO meta(key, value) VALUES (?, ?)", (key, str(mx)))
            con.commit()


ID_KEYS = {"tracks": "last_track_id", "segments": "last_segment_id"}
GENERATION = "generation"
MAX_ID = 2**63 - 1


def _new_ids(con: sqlite3.Connection, table: str, n: int) -> int:
    """Reserve ``n`` ids of ``table`` (inside the caller's transaction); returns the first.

    Ids come from a counter in ``meta`` that only grows, so an id is never given twice, not
    even after its row (the highest) was deleted: FAISS files, playlists and URLs that name
    an old id can never point at another track."""
    key = ID_KEYS[table]
    r = con.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    (mx,) = con.execute(f"SELECT COALESCE(MAX(id), 0) FROM {table}").fetchone()
    first = max(int(r[0]) if r else 0, int(mx)) + 1
    set_meta(con, **{key: str(first + n - 1)})
    return first


def generation(con: sqlite3.Connection) -> int:
    """How many write transactions (:func:`immediate`) the library has committed: changes on
    every change of its content, e.g. a file replaced by another of the same length."""
    r = con.execute("SELECT value FROM meta WHERE key = ?", (GENERATION,)).fetchone()
    return int(r[0]) if r else 0


def max_track_id(con: sqlite3.Connection) -> int:
    """The highest track id in use (0 for an empty library)."""
    return int(con.execute("SELECT COALESCE(MAX(id), 0) FROM tracks").fetchone()[0])


@contextmanager
def immediate(con: sqlite3.Connection) -> Iterator[None]:
    """One write transaction: ``BEGIN IMMEDIATE`` (takes SQLite's write lock now), ``COMMIT``
    when the block succeeds, ``ROLLBACK`` when it (or the commit) raises."""
    con.execute("BEGIN IMMEDIATE")
    try:
        yield
        con.execute("INSERT INTO meta(key, value) VALUES (?, '1') ON CONFLICT(key) DO UPDATE "
                    "SET value = CAST(value AS INTEGER) + 1", (GENERATION,))
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise


def get_meta(con: sqlite3.Connection) -> dict[str, str]:
    return dict(con.execute("SELECT key, value FROM meta").fetchall())


def set_meta(con: sqlite3.Connection, **kv: str) -> None:
    con.executemany("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", list(kv.items()))


def has_hash(con: sqlite3.Connection, content_hash: str) -> int | None:
    r = con.execute("SELECT id FROM tracks WHERE content_hash = ?", (content_hash,)).fetchone()
    return None if r is None else int(r[0])


def insert_track(con: sqlite3.Connection, *, path: str, content_hash: str, duration_s: float,
                 meta: dict, vector: np.ndarray, segments: list[tuple[float, float]],
                 seg_vectors: np.ndarray, zs_tags: dict | None = None,
                 stat: tuple[int, int] | None = None,
                 ) -> tuple[int, list[int]]:
    """Insert a track and its segments (inside the caller's transaction); returns the ids.
    ``stat``: the file's ``(size, mtime_ns)`` when its content was hashed. Its tag-student
    tags go in with :func:`lyrebird.index.tag_store.set_tags`."""

    size, mtime = stat if stat is not None else (None, None)
    tid = _new_ids(con, "tracks", 1)
    con.execute(
        "INSERT INTO tracks(id, path, content_hash, duration_s, title, artist, genre, file_tags,"
        " zs_tags, added_at, vector, file_size, file_mtime_ns) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
        (tid, path, content_hash, duration_s, meta.get("title"), meta.get("artist"), meta.get("genre"),
         json.dumps(meta.get("tags", {})), json.dumps(zs_tags or {}), time.time(),
         np.asarray(vector, np.float32).tobytes(), size, mtime))
    return tid, insert_segments(con, tid, segments, seg_vectors)


def set_zs_tags(con: sqlite3.Connection, track_id: int, tags: dict) -> None:
    """Replace the top tags stored with a track (its ``zs_tags`` column: ``Hit.tags``)."""
    con.execute("UPDATE tracks SET zs_tags = ? WHERE id = ?", (json.dumps(tags), int(track_id)))


def insert_segments(con: sqlite3.Connection, track_id: int, segments: list[tuple[float, float]],
                    seg_vectors: np.ndarray) -> list[int]:
    """Insert one track's segments (vectors stored as float16); returns their ids."""
    if not len(segments):
        return []
    first = _new_ids(con, "segments", len(segments))
    sids = list(range(first, first + len(segments)))
    con.executemany("INSERT INTO segments(id, track_id, start_s, end_s, vector) VALUES (?,?,?,?,?)",
                    [(sid, int(track_id), a, b, np.asarray(v, np.float16).tobytes())
                     for sid, ((a, b), v) in zip(sids, zip(segments, seg_vectors, strict=True),
                                                 strict=True)])
    return sids


def segment_ids(con: sqlite3.Connection, track_id: int) -> list[int]:
    """Ids of one track's segments, in time order (as :func:`track_segments` lists them)."""
    return [int(r[0]) for r in con.execute("SELECT id FROM segments WHERE track_id = ? ORDER BY "
                                           "start_s, id", (int(track_id),))]


def track_segment_ids(con: sqlite3.Connection, track_ids: list[int]) -> dict[int, list[int]]:
    """Track id → the ids of its segments in time order (as :func:`track_segment_arrays` lists
    them), for the tracks that have segments."""
    ids = valid_ids(track_ids)
    out: dict[int, list[int]] = {}
    for i in range(0, len(ids), 900):  # SQLite's bound-parameter limit
        part = ids[i:i + 900]
        q = (f"SELECT track_id, id FROM segments WHERE track_id IN ({','.join('?' * len(part))})"
             " ORDER BY track_id, start_s")
        for t, sid in con.execute(q, part):
            out.setdefault(int(t), []).append(int(sid))
    return out


def track_files(con: sqlite3.Connection) -> list[tuple[int, str, str, tuple[int, int] | None]]:
    """``(id, path, content hash, (size, mtime_ns) or None)`` of every track, for sync."""
    return [(int(i), p, h, (int(sz), int(mt)) if sz is not None and mt is not None else None)
            for i, p, h, sz, mt in con.execute(
                "SELECT id, path, content_hash, file_size, file_mtime_ns FROM tracks ORDER BY id")]


def set_path(con: sqlite3.Connection, track_id: int, path: str) -> None:
    """A moved or renamed file: the track keeps its vectors (inside the caller's transaction)."""
    con.execute("UPDATE tracks SET path = ? WHERE id = ?", (path, int(track_id)))


def set_stat(con: sqlite3.Connection, track_id: int, stat: tuple[int, int] | None) -> None:
    """Record a track file's ``(size, mtime_ns)`` (inside the caller's transaction)."""
    size, mtime = stat if stat is not None else (None, None)
    con.execute("UPDATE tracks SET file_size = ?, file_mtime_ns = ? WHERE id = ?",
                (size, mtime, int(track_id)))


def delete_track(con: sqlite3.Connection, track_id: int) -> None:
    """Delete a track, its segments and its stored tags (inside the caller's transaction)."""
    con.execute(f"DELETE FROM {SEGMENT_TAGS} WHERE segment_id IN (SELECT id FROM segments "
                "WHERE track_id = ?)", (int(track_id),))
    con.execute("DELETE FROM segments WHERE track_id = ?", (int(track_id),))
    con.execute(f"DELETE FROM {TRACK_TAGS} WHERE track_id = ?", (int(track_id),))
    con.execute("DELETE FROM tracks WHERE id = ?", (int(track_id),))


def replace_vectors(con: sqlite3.Connection,
                    new: dict[int, tuple[np.ndarray, dict, list[tuple[float, float]], np.ndarray]]
                    ) -> dict[int, list[int]]:
    """Give the tracks in ``new`` (id → vector, zero-shot tags, segments, segment vectors)
    their new vectors and segments, and delete every other track, and every stored tag-student
    tag (inside the caller's transaction; the caller stores the new ones with
    :func:`lyrebird.index.tag_store.set_tags`). Returns each track's new segment ids."""
    for (tid,) in con.execute("SELECT id FROM tracks").fetchall():
        if int(tid) not in new:
            con.execute("DELETE FROM tracks WHERE id = ?", (int(tid),))
    con.execute(f"DELETE FROM {SEGMENT_TAGS}")
    con.execute(f"DELETE FROM {TRACK_TAGS}")
    con.execute("DELETE FROM segments")
    sids = {}
    for tid, (vector, zs_tags, segments, seg_vectors) in new.items():
        con.execute("UPDATE tracks SET vector = ?, zs_tags = ? WHERE id = ?",
                    (np.asarray(vector, np.float32).tobytes(), json.dumps(zs_tags), int(tid)))
        sids[int(tid)] = insert_segments(con, tid, segments, seg_vectors)
    return sids


def _row(r) -> TrackRow:
    return TrackRow(int(r[0]), r[1], r[2], float(r[3]), r[4], r[5], r[6], json.loads(r[7]),
                    json.loads(r[8]), float(r[9]))


_TRACK_COLS = "id, path, content_hash, duration_s, title, artist, genre, file_tags, zs_tags, added_at"


def valid_ids(ids) -> list[int]:
    """The ids that can be row ids (1 to 2**63 - 1); others name no row (and would overflow
    SQLite's integer)."""
    return [int(i) for i in ids if 1 <= int(i) <= MAX_ID]


def get_tracks(con: sqlite3.Connection, ids: list[int]) -> dict[int, TrackRow]:
    ids = valid_ids(ids)
    if not ids:
        return {}
    q = f"SELECT {_TRACK_COLS} FROM tracks WHERE id IN ({','.join('?' * len(ids))})"
    return {int(r[0]): _row(r) for r in con.execute(q, [int(i) for i in ids])}


def all_tracks(con: sqlite3.Connection, limit: int | None = None, offset: int = 0) -> list[TrackRow]:
    """Track rows in id order; ``limit`` rows at most (all when ``None``) from ``offset``."""
    q = f"SELECT {_TRACK_COLS} FROM tracks ORDER BY id LIMIT ? OFFSET ?"
    return [_row(r) for r in con.execute(q, (-1 if limit is None else int(limit), int(offset)))]


def track_vector(con: sqlite3.Connection, track_id: int) -> np.ndarray | None:
    if not valid_ids([track_id]):
        return None
    r = con.execute("SELECT vector FROM tracks WHERE id = ?", (int(track_id),)).fetchone()
    return None if r is None else np.frombuffer(r[0], np.float32).copy()


def track_segments(con: sqlite3.Connection, track_id: int) -> tuple[np.ndarray, np.ndarray]:
    """``(S, 2)`` [start_s, end_s] and ``(S, D)`` float32 vectors of one track's segments."""
    rows = con.execute("SELECT start_s, end_s, vector FROM segments WHERE track_id = ? ORDER BY "
                       "start_s", (int(track_id),)).fetchall()
    if not rows:
        return np.zeros((0, 2)), np.zeros((0, 0), np.float32)
    times = np.array([(a, b) for a, b, _ in rows], float)
    vecs = np.stack([np.frombuffer(v, np.float16) for *_, v in rows]).astype(np.float32)
    return times, vecs


def track_segment_arrays(con: sqlite3.Connection, track_ids: list[int]
                         ) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """Track id → ``(times (S, 2), vectors (S, D) float32)`` of its segments in time order, for
    several tracks in one query."""
    if not track_ids:
        return {}
    rows = con.execute(f"SELECT track_id, start_s, end_s, vector FROM segments WHERE track_id IN "
                       f"({','.join('?' * len(track_ids))}) ORDER BY track_id, start_s",
                       [int(i) for i in track_ids]).fetchall()
    if not rows:
        return {}
    tids = np.array([r[0] for r in rows], np.int64)
    times = np.array([(r[1], r[2]) for r in rows], np.float64)
    vecs = np.frombuffer(b"".join(r[3] for r in rows), np.float16).reshape(len(rows), -1)
    vecs = vecs.astype(np.float32)
    cuts = np.flatnonzero(np.diff(tids)) + 1
    return {int(t[0]): (tm, v) for t, tm, v in zip(np.split(tids, cuts), np.split(times, cuts),
                                                   np.split(vecs, cuts), strict=True)}


def segments_info(con: sqlite3.Connection, ids: list[int]) -> dict[int, tuple[int, float, float]]:
    """Segment id → (track id, start_s, end_s)."""
    if not ids:
        return {}
    q = f"SELECT id, track_id, start_s, end_s FROM segments WHERE id IN ({','.join('?' * len(ids))})"
    return {int(r[0]): (int(r[1]), float(r[2]), float(r[3])) for r in con.execute(q, [int(i) for i in ids])}


def row_ids(con: sqlite3.Connection, table: str) -> set[int]:
    """Ids of every committed row of ``tracks`` or ``segments``."""
    if table not in ("tracks", "segments"):
        raise ValueError(f"unknown table {table!r}")
    return {int(r[0]) for r in con.execute(f"SELECT id FROM {table}")}


def all_vectors(con: sqlite3.Connection, table: str) -> tuple[np.ndarray, np.ndarray]:
    """``(ids, vectors float32)`` of every committed row of ``tracks`` or ``segments``."""
    if table not in ("tracks", "segments"):
        raise ValueError(f"unknown table {table!r}")
    dt = np.float32 if table == "tracks" else np.float16
    ids, vecs = [], []
    for i, v in con.execute(f"SELECT id, vector FROM {table} ORDER BY id"):
        ids.append(int(i))
        vecs.append(np.frombuffer(v, dt))
    if not ids:
        return np.zeros(0, np.int64), np.zeros((0, 0), np.float32)
    return np.asarray(ids, np.int64), np.stack(vecs).astype(np.float32)


def counts(con: sqlite3.Connection) -> dict[str, float]:
    n, hours = con.execute("SELECT COUNT(*), COALESCE(SUM(duration_s), 0) / 3600.0 FROM tracks").fetchone()
    (s,) = con.execute("SELECT COUNT(*) FROM segments").fetchone()
    return {"tracks": int(n), "segments": int(s), "hours": float(hours)}


def vectors_by_id(con: sqlite3.Connection, table: str, ids: np.ndarray) -> np.ndarray:
    """Exact float32 vectors ``(len(ids), D)`` of rows ``ids`` of ``tracks`` or ``segments``."""
    if table not in ("tracks", "segments"):
        raise ValueError(f"unknown table {table!r}")
    dt = np.float32 if table == "tracks" else np.float16
    q = f"SELECT id, vector FROM {table} WHERE id IN ({','.join('?' * len(ids))})"
    found = {int(i): np.frombuffer(v, dt) for i, v in con.execute(q, [int(i) for i in ids])}
    dim = len(next(iter(found.values()))) if found else 0
    return np.stack([found.get(int(i), np.zeros(dim, dt)) for i in ids]).astype(np.float32)


def table_names(con: sqlite3.Connection) -> set[str]:
    """The names of the database's tables (for ``Library.check``)."""
    return {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
