"""The write steps of a library, each one transaction published crash-safely.

Called by :class:`lyrebird.index.Library` (``add``, ``add_embedded``, ``remove``) and by
:func:`lyrebird.index.sync.sync`, always inside :meth:`Library.writing`. Rows change inside an
open transaction, the FAISS files are rewritten and renamed (``Library._publish``), then the
transaction commits; on any failure the rows roll back and the indexes are reloaded (and
rebuilt from the committed rows when the files got ahead of them).
"""

from __future__ import annotations

import errno
import os
import shutil
import sqlite3
from pathlib import Path

import numpy as np

from lyrebird.encoders import AudioError

from . import store
from .ingest import Embedded
from .types import AddReport


def disk_full(e: BaseException) -> bool:
    """A write failed for want of space (SQLite's "database or disk is full", ENOSPC, EDQUOT)."""
    if isinstance(e, OSError) and e.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    return isinstance(e, sqlite3.OperationalError) and "disk is full" in str(e).lower()


def free_space(folder: Path) -> str:
    """How much space is left in ``folder``, for messages."""
    try:
        return f"{shutil.disk_usage(folder).free / 2**20:.0f} MiB free in '{folder}'"
    except OSError:
        return f"could not measure the free space in '{folder}'"


def file_stat(path: str | os.PathLike) -> tuple[int, int] | None:
    """``(size, mtime_ns)`` of a file, stored with its track so sync can skip unchanged
    files without hashing them; ``None`` when it cannot be read."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_size, st.st_mtime_ns


def ingest(lib, items, batch_size: int) -> AddReport:
    """Add ``(path, hash, make)`` items, where ``make()`` → ``(meta, Embedded)`` is only called
    for new content (or ``(path, None, reason)`` for a failure); ``batch_size`` per commit."""
    rep = AddReport()
    first_path: dict[str, str] = {}  # content hash -> first path in this call
    in_call_dups: list[tuple[str, str]] = []
    pending: list[tuple[str, str, dict, Embedded]] = []
    for path, h, make in items:
        if h is None:
            rep.failed.append((path, make))
            continue
        dup = store.has_hash(lib.con, h)
        if dup:
            rep.duplicates.append((path, dup))
            continue
        if h in first_path:
            in_call_dups.append((path, first_path[h]))
            continue
        try:
            meta, emb = make()
        except AudioError as e:
            rep.failed.append((path, e.reason))
            continue
        first_path[h] = path
        pending.append((path, h, meta, emb))
        if len(pending) >= batch_size:
            rep.added += commit(lib, pending)
            pending = []
    if pending:
        rep.added += commit(lib, pending)
    ids = dict(rep.added)
    rep.duplicates += [(p, ids[first]) for p, first in in_call_dups if first in ids]
    return rep


def commit(lib, pending) -> list[tuple[str, int]]:
    """Insert a batch and publish it: rows, then FAISS files (atomic), then COMMIT."""
    added, t_ids, t_vecs, s_ids, s_vecs = [], [], [], [], []
    try:
        with store.immediate(lib.con):
            for path, h, meta, emb in pending:
                tid, sids = store.insert_track(
                    lib.con, path=path, content_hash=h, duration_s=emb.duration_s,
                    meta=meta, vector=emb.vector, segments=emb.segments,
                    seg_vectors=emb.seg_vectors, zs_tags=lib._model.top_tags(emb.vector),
                    stat=meta.get("_stat"))
                added.append((path, tid))
                t_ids.append(tid)
                t_vecs.append(emb.vector)
                s_ids += sids
                s_vecs.append(emb.seg_vectors.astype(np.float16).astype(np.float32))
            lib._publish(np.array(t_ids), np.stack(t_vecs), np.array(s_ids),
                         np.concatenate(s_vecs))
    except BaseException:
        lib._indexes.load()  # FAISS files may be ahead of the rolled-back rows
        raise
    return added


def delete(lib, track_ids: list[int]) -> None:
    """Delete tracks and their segments from the database and both indexes (one commit)."""
    if not track_ids:
        return
    seg_ids = [s for t in track_ids for s in store.segment_ids(lib.con, t)]
    try:
        with store.immediate(lib.con):
            for t in track_ids:
                store.delete_track(lib.con, t)
            lib._indexes.remove(list(track_ids), seg_ids)
    except BaseException:
        lib._indexes.load()
        raise


def move(lib, moves: list[tuple[int, str]], stats: dict[int, tuple[int, int] | None]) -> None:
    """Give tracks new paths (and refresh the recorded file stats) in one commit; the vectors
    do not change, so the indexes do not either. Nothing to do: no transaction (the library's
    ``generation`` only moves when something changed)."""
    if not moves and not stats:
        return
    with store.immediate(lib.con):
        for tid, path in moves:
            store.set_path(lib.con, tid, path)
        for tid, st in stats.items():
            store.set_stat(lib.con, tid, st)
