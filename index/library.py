"""``Library``: a persistent, incremental music library with text and audio search.

On disk (docs/architecture.md): ``library.sqlite`` (tracks, segments with vectors, meta; WAL),
``tracks.faiss`` and ``segments.faiss`` (ids = SQLite row ids), and ``LOCK``.

Write protocol for every batch: rows are inserted inside an open SQLite transaction, the FAISS
files are rewritten to temporary files, fsynced and renamed, and only then is the transaction
committed. A crash before the commit leaves FAISS ids that SQLite does not know; on open they are
detected and the index is rebuilt from the committed rows, so at most the in-flight batch is lost
and re-running ``add`` resumes (duplicates are skipped by content hash). One writer at a time
holds ``LOCK`` (:meth:`Library.writing`); readers never take it and never block.

``Library`` composes the parts it is made of: the database (:mod:`.store`), the FAISS indexes
(:class:`.indexes.LibraryIndexes`), the model (:class:`.model.ModelHandle`), the read side
(:class:`.reader.LibraryReader`, ``library.reader``), to which its query methods
(:class:`.queries.LibraryQueries`) delegate, and the write side
(:class:`.writer.LibraryWriter`, ``library.writer`` inside :meth:`Library.writing`), which its
write methods use. Here: opening, the model's fingerprint, the writer lock and the write API.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path

import numpy as np

from . import locking, store
from .check import check as _check
from .indexes import LibraryIndexes
from .ingest import HOP_S, MAX_DURATION_S, SEGMENT_S, Embedded, discover
from .model import LibraryModel, ModelHandle, load_model, query_only
from .pipeline import default_workers
from .queries import LibraryQueries
from .reader import LibraryReader
from .reembed import reembed as _reembed
from .reembed import retag as _retag
from .sync import remember
from .sync import sync as _sync
from .types import AddReport, CheckReport, LibraryError, SyncReport
from .vectors import IndexPolicy
from .writer import AddProgress, LibraryWriter, disk_full, free_space

DB, LOCK = "library.sqlite", locking.LOCK
log = logging.getLogger("lyrebird.index")
__all__ = ["DB", "LOCK", "Library"]


class Library(LibraryQueries):
    """Open with :meth:`create` or :meth:`open`. Not thread-safe; one instance per thread."""

    def __init__(self, path: Path, readonly: bool, model: LibraryModel | None,
                 policy: IndexPolicy, runtime: str = "torch"):
        self.path, self.readonly, self.policy, self.runtime = path, readonly, policy, runtime
        self.con = store.connect(path / DB, readonly=readonly)
        self.meta = store.get_meta(self.con)
        if "fingerprint" not in self.meta:
            raise LibraryError(f"'{path}': not a Lyrebird library (no model fingerprint in {DB})")
        self._writing = False
        if model is not None:
            self._check_model(model)
        self._model = ModelHandle(model, load=self._load_model)
        if readonly:
            self._attach(writer=False)
        else:  # repairs the indexes after a crash, unless another process is writing now
            with locking.if_free(self.path) as held:
                self._attach(writer=held)

    # ------------------------------------------------------------------ lifecycle
    @classmethod
    def create(cls, path: str | os.PathLike, model: str | LibraryModel = "default", *,
               policy: IndexPolicy = IndexPolicy(), segment_s: float = SEGMENT_S,
               hop_s: float = HOP_S) -> Library:
        """Create an empty library at ``path`` embedding with ``model`` (a spec or object)."""
        p = Path(path)
        if (p / DB).exists():
            raise LibraryError(f"'{p}': a library already exists here; use Library.open")
        for name, v in (("segment_s", segment_s), ("hop_s", hop_s)):
            if not (isinstance(v, int | float) and 0 < v <= 3600):  # NaN fails too
                raise LibraryError(f"'{p}': {name} must be a number of seconds in (0, 3600], "
                                   f"got {v!r}")
        p.mkdir(parents=True, exist_ok=True)
        m = load_model(model) if isinstance(model, str) else model
        con = store.connect(p / DB)
        with con:
            store.set_meta(con, model=m.name, fingerprint=m.fingerprint(), dim=str(m.DIM),
                           sample_rate=str(m.SAMPLE_RATE), segment_s=str(segment_s),
                           hop_s=str(hop_s), created=str(time.time()), format_version="1",
                           policy=json.dumps(asdict(policy)))
        con.close()
        (p / LOCK).touch()
        return cls(p, readonly=False, model=m, policy=policy)

    @classmethod
    def open(cls, path: str | os.PathLike, model: LibraryModel | None = None,
             readonly: bool = False, runtime: str = "torch") -> Library:
        """Open an existing library. The model named in its meta is loaded on first use, on
        ``runtime`` (:data:`lyrebird.mulan.runtimes.RUNTIMES`: ``"onnx"`` runs its towers on
        onnxruntime from an export cached by fingerprint, the library's vectors unchanged;
        ``"onnx-int8"`` quantises the text tower and only searches: writes are refused).
        Raises ``ImportError`` naming the pip extra when the runtime is not installed."""
        p = Path(path)
        if not (p / DB).is_file():
            raise LibraryError(f"'{p}': no library here (missing {DB}); create one first")
        if runtime != "torch":
            from lyrebird.mulan.runtimes import check_runtime

            check_runtime(runtime)
            if model is not None:
                raise ValueError("Library.open: give a model or a runtime, not both")
        meta = store.get_meta(store.connect(p / DB, readonly=True))
        policy = IndexPolicy(**json.loads(meta.get("policy", "{}")))
        return cls(p, readonly=readonly, model=model, policy=policy, runtime=runtime)

    def close(self) -> None:
        self.con.close()

    def __enter__(self) -> Library:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _attach(self, writer: bool) -> None:
        """(Re)load the FAISS indexes for the current meta and wire the read and write sides to
        them. ``writer``: holding ``LOCK``, so files that disagree with the rows are rebuilt on
        disk (otherwise in memory only: index files and ``index_info`` are written under the
        lock)."""
        self._indexes = LibraryIndexes(self.path, self.con, int(self.meta["dim"]), self.policy,
                                       readonly=not writer)
        self._reader = LibraryReader(self.con, self._indexes, self._model, self.meta, self.path)
        self._writer = LibraryWriter(self.con, self._indexes, self._model, self.meta, self.path)

    @property
    def reader(self) -> LibraryReader:
        """The read side (:class:`lyrebird.index.reader.LibraryReader`); the query methods of
        ``Library`` delegate to it."""
        return self._reader

    @property
    def writer(self) -> LibraryWriter:
        """The write side (:class:`lyrebird.index.writer.LibraryWriter`), inside
        :meth:`writing` only (:class:`LibraryError` elsewhere)."""
        self._require_writing()
        return self._writer

    def _reload(self) -> None:
        """Under ``LOCK``: re-read meta and indexes (another writer may have committed since)."""
        self.meta = store.get_meta(self.con)
        self._attach(writer=True)

    # ------------------------------------------------------------------ model
    @property
    def model(self) -> LibraryModel:
        """The library's model (the one named in its meta is loaded on first use)."""
        return self._model.model

    def _load_model(self) -> LibraryModel:
        m = load_model(self.meta["model"], runtime=self.runtime,
                       fingerprint=self.meta["fingerprint"])
        self._check_model(m)
        return m

    def _refuse_query_only(self, m: LibraryModel | None = None) -> None:
        """No writes with a query-only model (an int8 text tower): the zero-shot tags stored
        with tracks come from the text tower and would not match the fp32 model's."""
        m = m if m is not None else (self._model.model if self._model.loaded else None)
        if self.runtime == "onnx-int8" or (m is not None and query_only(m)):
            raise LibraryError(f"'{self.path}': the int8 text tower (runtime onnx-int8) serves "
                               "queries only; add, sync or re-embed with the torch or onnx "
                               "runtime")

    def _check_model(self, m: LibraryModel) -> None:
        if m.fingerprint() != self.meta["fingerprint"] and self._legacy_match(m):
            return
        if m.fingerprint() != self.meta["fingerprint"]:
            raise LibraryError(
                f"'{self.path}': built with model {self.meta['model']!r} (fingerprint "
                f"{self.meta['fingerprint']}), but {m.name!r} has fingerprint {m.fingerprint()}; "
                "vectors from different models cannot be mixed — run `lyrebird index reembed`")

    def _legacy_match(self, m: LibraryModel) -> bool:
        """A library stored by an older release under the model's legacy fingerprint: record
        the current fingerprint and accept the model."""
        legacy = getattr(m, "legacy_fingerprint", None)
        if legacy is None or legacy() != self.meta["fingerprint"]:
            return False
        log.info("%s: upgrading the stored model fingerprint %s -> %s", self.path,
                 self.meta["fingerprint"], m.fingerprint())
        # stored even by a read-only opener when the file is writable and no writer is busy
        # (one meta row, in one transaction), so the check is paid once, not per query
        if os.access(self.path / DB, os.W_OK) and not self._writing:
            with locking.if_free(self.path) as held:
                if held:
                    con = store.connect(self.path / DB)
                    try:
                        with store.immediate(con):
                            store.set_meta(con, fingerprint=m.fingerprint())
                    finally:
                        con.close()
        self.meta = {**self.meta, "fingerprint": m.fingerprint()}
        return True

    # ------------------------------------------------------------------ writing
    @contextmanager
    def writing(self) -> Iterator[Library]:
        """Hold the writer lock (``LOCK``) for the block, with meta and indexes re-read first
        (another process may have committed). Every change to the library runs inside it.

        Raises :class:`LibraryError` when the library is read-only or another process holds
        the lock for 10 s. Not re-entrant.
        """
        if self.readonly:
            raise LibraryError(f"'{self.path}': opened read-only")
        self._refuse_query_only()
        if self._writing:
            raise LibraryError(f"'{self.path}': already writing (Library.writing is not re-entrant)")
        with locking.held(self.path):
            try:
                self._writing = True
                self._reload()
                self._writer.clear_stale_temps()
                yield self
            except (sqlite3.OperationalError, OSError) as e:
                if not disk_full(e):
                    raise
                raise LibraryError(
                    f"'{self.path}': the disk holding the library is full ({e}); "
                    f"{free_space(self.path)}. Free some space there and run the command again: "
                    "what was committed before is kept, the rest resumes") from e
            finally:
                self._writing = False

    @classmethod
    def check(cls, path: str | os.PathLike, *, repair: bool = False) -> CheckReport:
        """Verify a library folder without opening it for search: SQLite (``PRAGMA
        integrity_check``, schema and meta), both FAISS files against the rows (counts and
        ids), the writer lock, and the tracks' files (missing ones are listed, never removed).
        ``repair`` rebuilds what can be rebuilt (the FAISS files from SQLite, SQLite's own
        indexes, a missing ``LOCK``, temporary files of an interrupted write); see
        :func:`lyrebird.index.check.check`."""
        return _check(Path(path), repair=repair)

    def _require_writing(self) -> None:
        if not self._writing:
            raise LibraryError(f"'{self.path}': call this inside `with library.writing():`")

    def add(self, paths: Iterable[str | os.PathLike], batch_size: int = 16,
            max_duration_s: float = MAX_DURATION_S, workers: int | None = None, *,
            on_progress: AddProgress | None = None) -> AddReport:
        """Embed and add audio files or folders (recursive); skips duplicates, reports bad
        files, goes on. Returns one report for the whole call: ``added``, ``duplicates`` and
        ``failed`` — files that could not be read or embedded, and the paths skipped while
        listing the folders (missing, not regular files; :func:`lyrebird.index.ingest.discover`).

        Commits every ``batch_size`` tracks; an interruption loses at most that batch. The
        folders among ``paths`` are remembered for :meth:`sync` (files are not). ``workers``
        threads decode and embed files while this one hashes and commits (default: one per
        core, or 0 for a model whose ``thread_safe`` attribute is false; 0: the serial path,
        in this thread with PyTorch's own threading; see :mod:`lyrebird.index.pipeline`).
        ``on_progress(done, total)``: ``done`` of the ``total`` audio files found are settled
        (:data:`lyrebird.index.writer.AddProgress`).
        """
        paths = list(paths)
        files, missing = discover(paths)
        if workers is None:  # a plug-in model may say it cannot be called from two threads
            workers = default_workers() if getattr(self.model, "thread_safe", True) else 0
        with self.writing():
            remember(self, [p for p in paths if Path(p).is_dir()])
            rep = self.writer.add_files(files, batch_size=batch_size, workers=workers,
                                        max_duration_s=max_duration_s, on_progress=on_progress)
        rep.failed = missing + rep.failed
        return rep

    def add_embedded(self, items: Iterable[tuple[str, str, dict, Embedded]],
                     batch_size: int = 256) -> AddReport:
        """Commit precomputed ``(path, content hash, file metadata, Embedded)`` items, e.g. the
        shards of a distributed embedding job. Duplicates by hash are skipped."""
        with self.writing():
            return self.writer.add_embedded(items, batch_size)

    def remove(self, track_id: int) -> None:
        """Delete a track and its segments from the database and both indexes."""
        if not isinstance(track_id, int | np.integer) or not 1 <= track_id <= store.MAX_ID:
            raise LibraryError(f"'{self.path}': track ids are whole numbers from 1 to 2^63-1, "
                               f"got {track_id!r}")
        with self.writing():
            if not store.get_tracks(self.con, [track_id]):
                raise LibraryError(f"'{self.path}': no track with id {track_id}")
            self.writer.delete([track_id])

    def sync(self, paths: Iterable[str | os.PathLike] | None = None,
             batch_size: int = 16) -> SyncReport:
        """Bring the library in step with the audio files under ``paths`` (default: the folders
        earlier syncs were given): add new files, remove tracks whose files are gone, follow
        moved/renamed files by content hash without re-embedding, re-embed edited files
        (:mod:`lyrebird.index.sync`). Crash-safe like :meth:`add`."""
        return _sync(self, list(paths) if paths is not None else None, batch_size=batch_size)

    def reembed(self, model: str | LibraryModel) -> AddReport:
        """Re-embed every track with another model and switch the library to it atomically
        (see :func:`lyrebird.index.reembed.reembed`)."""
        return _reembed(self, model)

    def retag(self, batch_size: int = 32) -> AddReport:
        """Store the model's tag-student tags for every track that has none or another
        student's (a library made before the student, or by an older one); vectors stay.
        See :func:`lyrebird.index.reembed.retag`."""
        return _retag(self, self._model, batch_size)

    def switch_model(self, model: LibraryModel, embedded: dict[int, Embedded]) -> None:
        """Switch the library to ``model`` in one commit: each track in ``embedded`` (track id →
        its vectors from ``model``) gets its new vectors and zero-shot tags, every other track is
        removed, and both indexes are rebuilt. Call inside :meth:`writing`.

        The old FAISS files are deleted before the COMMIT and the new ones built after it: the
        row ids stay the same, so files of the other model could not be told apart from the
        rows. After a failure or a crash at any point the library is on one model, the old or
        the new, and its indexes are rebuilt from that model's rows when they are missing.
        """
        w = self.writer  # inside writing() only
        self._refuse_query_only(model)
        handle = ModelHandle(model)
        try:
            w.replace_model(handle, embedded)
        except BaseException:
            self._reload()  # rolled back: old meta and model; indexes rebuilt from the old rows
            raise
        self._model = handle
        self._reload()  # indexes built from the new rows
