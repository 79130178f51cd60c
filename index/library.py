"""``Library``: a persistent, incremental music library with text and audio search.

On disk (docs/architecture.md): ``library.sqlite`` (tracks, segments with vectors, meta; WAL),
``tracks.faiss`` and ``segments.faiss`` (ids = SQLite row ids), and ``LOCK``.

Write protocol for every batch: rows are inserted inside an open SQLite transaction, the FAISS
files are rewritten to temporary files, fsynced and renamed, and only then is the transaction
committed. A crash before the commit leaves FAISS ids that SQLite does not know; on open they are
detected and the index is rebuilt from the committed rows, so at most the in-flight batch is lost
and re-running ``add`` resumes (duplicates are skipped by content hash). One writer at a time
holds ``LOCK`` (:meth:`Library.writing`); readers never take it and never block.

``Library`` owns the write path; it composes the parts it is made of: the database
(:mod:`.store`), the FAISS indexes (:class:`.indexes.LibraryIndexes`), the model
(:class:`.model.ModelHandle`) and the read side (:class:`.reader.LibraryReader`), to which its
query methods delegate.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import asdict
from pathlib import Path

import numpy as np

from lyrebird.core.progress import progress
from lyrebird.encoders import AudioError
from lyrebird.mulan import DEFAULT_TEMPLATE

from . import locking, store, writer
from .check import check as _check
from .indexes import LibraryIndexes
from .ingest import HOP_S, MAX_DURATION_S, SEGMENT_S, Embedded, discover, embed_file, file_metadata
from .model import LibraryModel, ModelHandle, load_model, query_only
from .pipeline import default_workers, hashed_files, ordered_map, torch_threads
from .playlist import Order, Playlist, make_playlist
from .reader import SEGMENT_WEIGHT, LibraryReader
from .reembed import reembed as _reembed
from .sync import remember
from .sync import sync as _sync
from .types import AddReport, CheckReport, Hit, LibraryError, SyncReport, TrackRow
from .vectors import IndexPolicy

DB, LOCK = "library.sqlite", locking.LOCK
log = logging.getLogger("lyrebird.index")
__all__ = ["DB", "LOCK", "Library"]



class Library:
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
        """(Re)load the FAISS indexes for the current meta and wire the read side to them.
        ``writer``: holding ``LOCK``, so files that disagree with the rows are rebuilt on disk
        (otherwise in memory only: index files and ``index_info`` are written under the lock)."""
        self._indexes = LibraryIndexes(self.path, self.con, int(self.meta["dim"]), self.policy,
                                       readonly=not writer)
        self._reader = LibraryReader(self.con, self._indexes, self._model, self.meta, self.path)

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

    # ------------------------------------------------------------------ reading
    def search(self, query: str, k: int = 10, group: bool = True) -> list[Hit]:
        """Text → tracks: the ``k`` best tracks for a query in any language (``list[Hit]``);
        ``group``: one per work, the others counted in ``Hit.more_of_work``."""
        return self._reader.search(query, k, group)

    def similar(self, item: int | str | os.PathLike | np.ndarray, k: int = 10,
                sr: int | None = None, group: bool = True) -> list[Hit]:
        """Tracks most similar to a library track id (itself excluded) or to audio (a file or a
        ``(T,)`` array at ``sr`` Hz): segment and track scores fused, so an excerpt finds its
        source track and the hit's ``start_s``/``end_s`` is the matching moment; ``group``:
        one per work (a library track's own work left out)."""
        return self._reader.similar(item, k, sr, group)

    def search_audio(self, emb: Embedded, k: int = 10, *, weight: float | None = None,
                     exclude: int | None = None) -> list[Hit]:
        """:meth:`similar` for audio already embedded (:meth:`audio_embedded`); ``weight`` of the
        segment score, default :data:`lyrebird.index.reader.SEGMENT_WEIGHT` (0: track vectors
        alone)."""
        return self._reader.search_audio(emb, k, weight=SEGMENT_WEIGHT if weight is None
                                         else weight, exclude=exclude)

    def audio_embedded(self, audio: str | os.PathLike | np.ndarray, sr: int | None = None
                       ) -> Embedded:
        """A query file or ``(T,)`` array → its segment vectors and mean vector."""
        return self._reader.audio_embedded(audio, sr)

    def playlist(self, query: str | None = None, *, seeds: list[int] | None = None, n: int = 20,
                 into: str | None = None, lam: float = 0.7, max_per_artist: int | None = None,
                 max_per_album: int | None = None, order: Order = "relevance",
                 pool: int | None = None) -> Playlist:
        """``n`` tracks for a text ``query`` and/or ``seeds`` (track ids, not repeated), diverse
        by maximal marginal relevance (``lam`` 1: relevance only, 0: diversity only), one track
        per work, at most ``max_per_artist``/``max_per_album`` each. ``"A into B"`` (or
        ``into="B"``) moves from A to B along the list; otherwise ``order="smooth"`` chains
        similar neighbours. Export with ``.write_m3u8`` / ``.write_json`` / ``.write_csv``
        (:mod:`lyrebird.index.playlist`)."""
        return make_playlist(self._reader, query, seeds=seeds, n=n, into=into, lam=lam,
                             max_per_artist=max_per_artist, max_per_album=max_per_album,
                             order=order, pool=pool)

    def search_segments(self, query, k: int = 10) -> list[Hit]:
        """Moments: the ``k`` best 10-second segments for text, an audio file or an array."""
        return self._reader.search_segments(query, k)

    def tag(self, track_id: int, tags: list[str] | None = None,
            template: str = DEFAULT_TEMPLATE) -> dict[str, float]:
        """Zero-shot tag scores of a library track (from its stored vector; no audio decode)."""
        return self._reader.tag(track_id, tags, template)

    def tag_vector(self, vec: np.ndarray, tags: list[str] | None = None,
                   template: str = DEFAULT_TEMPLATE) -> dict[str, float]:
        """Zero-shot tag scores (cosine similarity to ``template.format(tag)``), best first."""
        return self._reader.tag_vector(vec, tags, template)

    def audio_vector(self, audio: str | os.PathLike | np.ndarray, sr: int | None = None) -> np.ndarray:
        """A query file or ``(T,)`` array at ``sr`` Hz → its normalised mean segment vector."""
        return self._reader.audio_vector(audio, sr)

    def tag_probs(self, vectors: np.ndarray) -> dict[str, float] | None:
        """Distilled tag probabilities (``{tag: p}``, best first) of audio vectors ``(S, DIM)``
        — a query's or a track's segments, averaged — or ``None`` when the model has no tag
        head (:mod:`lyrebird.mulan.tag_head`)."""
        return self._reader.tag_probs(vectors)

    def tag_space(self):
        """The library in its model's tag space (track ids, tag probabilities: a
        :class:`lyrebird.index.tagspace.TagSpace`), or ``None`` without a tag head."""
        return self._reader.tag_space()

    def track(self, track_id: int) -> TrackRow:
        """The stored row of one track (path, title, duration_s, tags…)."""
        return self._reader.track(track_id)

    def tracks(self, limit: int | None = None, offset: int = 0) -> list[TrackRow]:
        """Stored track rows in id order, ``limit`` at most."""
        return self._reader.tracks(limit, offset)

    def info(self) -> dict:
        """Counts, hours, index kinds, model and memory per track."""
        return self._reader.info()

    def audio_segment(self, track_id: int, start_s: float, duration_s: float = 10.0) -> np.ndarray:
        """Decode part of a library track (``(T,)`` float32 at the model rate), e.g. to play."""
        return self._reader.audio_segment(track_id, start_s, duration_s)

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
                self._indexes.clear_stale_temps()
                yield self
            except (sqlite3.OperationalError, OSError) as e:
                if not writer.disk_full(e):
                    raise
                raise LibraryError(
                    f"'{self.path}': the disk holding the library is full ({e}); "
                    f"{writer.free_space(self.path)}. Free some space there and run the command again: "
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
            max_duration_s: float = MAX_DURATION_S, workers: int | None = None) -> AddReport:
        """Embed and add audio files or folders; skips duplicates, reports bad files, goes on.

        Commits every ``batch_size`` tracks; an interruption loses at most that batch. The
        folders among ``paths`` are remembered for :meth:`sync` (files are not). ``workers``
        threads decode and embed files while this one hashes and commits (default: one per
        core, or 0 for a model whose ``thread_safe`` attribute is false; 0: the serial path,
        in this thread with PyTorch's own threading; see :mod:`lyrebird.index.pipeline`).
        """
        paths = list(paths)
        files, missing = discover(paths)
        seg, hop = float(self.meta["segment_s"]), float(self.meta["hop_s"])
        if workers is None:  # a plug-in model may say it cannot be called from two threads
            workers = default_workers() if getattr(self.model, "thread_safe", True) else 0

        def embed(f: Path):
            return ({**file_metadata(f), "_stat": writer.file_stat(f)},
                    embed_file(self.model, f, seg, hop, max_duration_s=max_duration_s))

        def items():
            jobs = hashed_files(self.con, progress(files, desc="index add"))
            for (f, h, why), result in ordered_map(lambda job: embed(job[0]), jobs, workers):
                yield (str(f), None, why) if h is None else (str(f), h, result)

        with self.writing(), (torch_threads(1) if workers else nullcontext()):
            if workers:
                _ = self.model.SAMPLE_RATE  # load the model once, before threads share it
            remember(self, [p for p in paths if Path(p).is_dir()])
            rep = writer.ingest(self, items(), batch_size)
        rep.failed = missing + rep.failed
        return rep

    def add_embedded(self, items: Iterable[tuple[str, str, dict, Embedded]],
                     batch_size: int = 256) -> AddReport:
        """Commit precomputed ``(path, content hash, file metadata, Embedded)`` items, e.g. the
        shards of a distributed embedding job. Duplicates by hash are skipped."""
        dim = int(self.meta["dim"])

        def check(path, meta, emb):
            if emb.seg_vectors.shape[1] != dim:
                raise AudioError(path, f"vector width {emb.seg_vectors.shape[1]} != library dim {dim}")
            return meta, emb

        with self.writing():
            return writer.ingest(self, ((p, h, lambda p=p, m=m, e=e: check(p, m, e))
                                        for p, h, m, e in items), batch_size)

    def _publish(self, t_ids, t_vecs, s_ids, s_vecs) -> None:
        """Add the batch's vectors to both indexes and rename the new files into place."""
        self._indexes.publish(t_ids, t_vecs, s_ids, s_vecs)

    def remove(self, track_id: int) -> None:
        """Delete a track and its segments from the database and both indexes."""
        if not isinstance(track_id, int | np.integer) or not 1 <= track_id <= store.MAX_ID:
            raise LibraryError(f"'{self.path}': track ids are whole numbers from 1 to 2^63-1, "
                               f"got {track_id!r}")
        with self.writing():
            if not store.get_tracks(self.con, [track_id]):
                raise LibraryError(f"'{self.path}': no track with id {track_id}")
            writer.delete(self, [track_id])

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

    def switch_model(self, model: LibraryModel, embedded: dict[int, Embedded]) -> None:
        """Switch the library to ``model`` in one commit: each track in ``embedded`` (track id →
        its vectors from ``model``) gets its new vectors and zero-shot tags, every other track is
        removed, and both indexes are rebuilt. Call inside :meth:`writing`.

        The old FAISS files are deleted before the COMMIT and the new ones built after it: the
        row ids stay the same, so files of the other model could not be told apart from the
        rows. After a failure or a crash at any point the library is on one model, the old or
        the new, and its indexes are rebuilt from that model's rows when they are missing.
        """
        self._require_writing()
        self._refuse_query_only(model)
        handle = ModelHandle(model)
        new = {tid: (e.vector, handle.top_tags(e.vector), e.segments, e.seg_vectors)
               for tid, e in embedded.items()}
        try:
            with store.immediate(self.con):
                store.replace_vectors(self.con, new)
                store.set_meta(self.con, model=model.name, fingerprint=model.fingerprint(),
                               dim=str(model.DIM), sample_rate=str(model.SAMPLE_RATE))
                self._indexes.discard_files()
        except BaseException:
            self._reload()  # rolled back: old meta and model; indexes rebuilt from the old rows
            raise
        self._model = handle
        self._reload()  # indexes built from the new rows
