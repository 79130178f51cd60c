"""The write side of a library: :class:`LibraryWriter`, each step one transaction published
crash-safely.

:class:`lyrebird.index.Library` composes one beside its :class:`.reader.LibraryReader` and
hands it out as ``library.writer`` inside :meth:`Library.writing` only (the writer lock held,
meta and indexes re-read), where ``add``, ``add_embedded``, ``remove``, ``switch_model``,
:func:`lyrebird.index.sync.sync` and :func:`lyrebird.index.catalog.sync_catalog` use it. Rows
change inside an open transaction, the FAISS files are rewritten and renamed
(:meth:`LibraryWriter.publish`), then the transaction commits; on any failure the rows roll back
and the indexes are reloaded (and rebuilt from the committed rows when the files got ahead of
them).
"""

from __future__ import annotations

import errno
import os
import shutil
import sqlite3
from collections.abc import Callable, Iterable, Mapping
from contextlib import nullcontext
from pathlib import Path

import numpy as np

from lyrebird.core.progress import progress
from lyrebird.encoders import AudioError

from . import store, tag_store
from .indexes import LibraryIndexes
from .ingest import Embedded, embed_file, file_metadata
from .model import ModelHandle
from .pipeline import hashed_files, ordered_map, torch_threads
from .types import AddReport

AddProgress = Callable[[int, int], None]
"""``on_progress(done, total)`` of an add: ``done`` of the ``total`` files found are settled
(committed, skipped as a duplicate, or failed). Called each time ``done`` grows, on the thread
that commits; never when no file was found."""

IngestItem = tuple[str, str | None, object]
"""``(path, content hash, make)`` where ``make()`` → ``(file metadata, Embedded)`` is only
called for new content; ``(path, None, reason)`` for a file that failed before hashing."""


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


class LibraryWriter:
    """Changes to one library: ``con`` (its database), ``indexes`` (its FAISS pair, written
    here), ``model`` (the handle of its model: zero-shot tags stored with each track, and the
    embeddings of :meth:`add_files`), ``meta`` (dim, segment_s, hop_s) and ``path`` (for
    messages). Every method assumes the writer lock is held (``Library.writing``)."""

    def __init__(self, con: sqlite3.Connection, indexes: LibraryIndexes, model: ModelHandle,
                 meta: Mapping[str, str], path: Path):
        self.con, self.indexes, self.model, self.meta, self.path = con, indexes, model, meta, path

    # ------------------------------------------------------------------ adding
    def add_files(self, files: list[Path], *, batch_size: int, max_duration_s: float,
                  workers: int, on_progress: AddProgress | None = None) -> AddReport:
        """Hash, embed and commit ``files`` (audio files, in order), ``batch_size`` new tracks
        per commit; ``workers`` threads decode and embed while this one hashes and commits
        (0: the serial path, see :mod:`lyrebird.index.pipeline`)."""
        seg, hop = float(self.meta["segment_s"]), float(self.meta["hop_s"])

        def embed(f: Path):
            return ({**file_metadata(f), "_stat": file_stat(f)},
                    embed_file(self.model.model, f, seg, hop, max_duration_s=max_duration_s))

        def items():
            jobs = hashed_files(self.con, progress(files, desc="index add"))
            for (f, h, why), result in ordered_map(lambda job: embed(job[0]), jobs, workers):
                yield (str(f), None, why) if h is None else (str(f), h, result)

        with torch_threads(1) if workers else nullcontext():
            if workers:
                _ = self.model.model.SAMPLE_RATE  # load the model once, before threads share it
            return self.ingest(items(), batch_size, on_progress=on_progress, total=len(files))

    def add_embedded(self, items: Iterable[tuple[str, str, dict, Embedded]],
                     batch_size: int) -> AddReport:
        """Commit precomputed ``(path, content hash, file metadata, Embedded)`` items; a vector
        width other than the library's fails that item."""
        dim = int(self.meta["dim"])

        def check(path, meta, emb):
            if emb.seg_vectors.shape[1] != dim:
                raise AudioError(path, f"vector width {emb.seg_vectors.shape[1]} != library dim {dim}")
            return meta, emb

        return self.ingest(((p, h, lambda p=p, m=m, e=e: check(p, m, e)) for p, h, m, e in items),
                           batch_size)

    def ingest(self, items: Iterable[IngestItem], batch_size: int,
               on_progress: AddProgress | None = None, total: int = 0) -> AddReport:
        """Add ``(path, hash, make)`` items (:data:`IngestItem`), ``batch_size`` new tracks per
        commit; content already in the library or earlier in ``items`` is a duplicate.
        ``on_progress(done, total)`` as :data:`AddProgress` (``total``: the number of items)."""
        rep = AddReport()
        first_path: dict[str, str] = {}  # content hash -> first path in this call
        in_call_dups: list[tuple[str, str]] = []
        pending: list[tuple[str, str, dict, Embedded]] = []
        done = 0

        def settled(n: int) -> None:
            nonlocal done
            done += n
            if on_progress is not None and n:
                on_progress(done, total)

        for path, h, make in items:
            if h is None:
                rep.failed.append((path, make))
                settled(1)
                continue
            dup = store.has_hash(self.con, h)
            if dup:
                rep.duplicates.append((path, dup))
                settled(1)
                continue
            if h in first_path:
                in_call_dups.append((path, first_path[h]))
                settled(1)
                continue
            try:
                meta, emb = make()
            except AudioError as e:
                rep.failed.append((path, e.reason))
                settled(1)
                continue
            first_path[h] = path
            pending.append((path, h, meta, emb))
            if len(pending) >= batch_size:
                rep.added += self.commit(pending)
                settled(len(pending))
                pending = []
        if pending:
            rep.added += self.commit(pending)
            settled(len(pending))
        ids = dict(rep.added)
        rep.duplicates += [(p, ids[first]) for p, first in in_call_dups if first in ids]
        return rep

    def commit(self, pending: list[tuple[str, str, dict, Embedded]]) -> list[tuple[str, int]]:
        """Insert a batch of ``(path, hash, metadata, Embedded)`` and publish it: rows, then
        FAISS files (atomic), then COMMIT. Returns ``(path, new track id)`` per item."""
        added, t_ids, t_vecs, s_ids, s_vecs = [], [], [], [], []
        try:
            with store.immediate(self.con):
                for path, h, meta, emb in pending:
                    tid, sids = store.insert_track(
                        self.con, path=path, content_hash=h, duration_s=emb.duration_s,
                        meta=meta, vector=emb.vector, segments=emb.segments,
                        seg_vectors=emb.seg_vectors,
                        zs_tags=self.model.stored_tags(emb.vector, emb.seg_vectors, emb.tags),
                        stat=meta.get("_stat"))
                    if emb.tags is not None:
                        tag_store.set_tags(self.con, tid, sids, emb.tags, emb.seg_tags,
                                           self.model.tag_student_key or "")
                    added.append((path, tid))
                    t_ids.append(tid)
                    t_vecs.append(emb.vector)
                    s_ids += sids
                    s_vecs.append(emb.seg_vectors.astype(np.float16).astype(np.float32))
                self.publish(np.array(t_ids), np.stack(t_vecs), np.array(s_ids),
                             np.concatenate(s_vecs))
        except BaseException:
            self.indexes.load()  # FAISS files may be ahead of the rolled-back rows
            raise
        return added

    def publish(self, t_ids: np.ndarray, t_vecs: np.ndarray, s_ids: np.ndarray,
                s_vecs: np.ndarray) -> None:
        """Add a batch's vectors (rows inserted, not yet committed) to both indexes and rename
        the new files into place."""
        self.indexes.publish(t_ids, t_vecs, s_ids, s_vecs)

    # ------------------------------------------------------------------ changing
    def delete(self, track_ids: list[int]) -> None:
        """Delete tracks and their segments from the database and both indexes (one commit)."""
        if not track_ids:
            return
        seg_ids = [s for t in track_ids for s in store.segment_ids(self.con, t)]
        try:
            with store.immediate(self.con):
                for t in track_ids:
                    store.delete_track(self.con, t)
                self.indexes.remove(list(track_ids), seg_ids)
        except BaseException:
            self.indexes.load()
            raise

    def move(self, moves: list[tuple[int, str]],
             stats: Mapping[int, tuple[int, int] | None]) -> None:
        """Give tracks new paths (and refresh the recorded file stats) in one commit; the vectors
        do not change, so the indexes do not either. Nothing to do: no transaction (the
        library's ``generation`` only moves when something changed)."""
        if not moves and not stats:
            return
        with store.immediate(self.con):
            for tid, path in moves:
                store.set_path(self.con, tid, path)
            for tid, st in stats.items():
                store.set_stat(self.con, tid, st)

    def replace_model(self, model: ModelHandle, embedded: Mapping[int, Embedded]) -> None:
        """One commit: each track in ``embedded`` gets its vectors from ``model`` (and its
        zero-shot tags), every other track goes, the meta names ``model``, and both FAISS files
        are deleted before the COMMIT (the caller reloads: they are rebuilt from the new rows).
        See :meth:`lyrebird.index.Library.switch_model`."""
        m = model.model
        new = {tid: (e.vector, model.stored_tags(e.vector, e.seg_vectors, e.tags), e.segments,
                     e.seg_vectors)
               for tid, e in embedded.items()}
        with store.immediate(self.con):
            sids = store.replace_vectors(self.con, new)
            for tid, e in embedded.items():
                if e.tags is not None:
                    tag_store.set_tags(self.con, tid, sids[int(tid)], e.tags, e.seg_tags,
                                       model.tag_student_key or "")
            tag_store.bump_tags_version(self.con)
            store.set_meta(self.con, model=m.name, fingerprint=m.fingerprint(),
                           dim=str(m.DIM), sample_rate=str(m.SAMPLE_RATE))
            self.indexes.discard_files()

    def clear_stale_temps(self) -> None:
        """Delete temporary index files a killed writer left behind."""
        self.indexes.clear_stale_temps()


__all__ = ["AddProgress", "LibraryWriter", "disk_full", "file_stat", "free_space"]
