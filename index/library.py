"""``Library``: a persistent, incremental music library with text and audio search.

On disk (DESIGN.md): ``library.sqlite`` (tracks, segments with vectors, meta; WAL),
``tracks.faiss`` and ``segments.faiss`` (ids = SQLite row ids), and ``LOCK``.

Write protocol for every batch: rows are inserted inside an open SQLite transaction, the FAISS
files are rewritten to temporary files, fsynced and renamed, and only then is the transaction
committed. A crash before the commit leaves FAISS ids that SQLite does not know; on open they are
detected and the index is rebuilt from the committed rows, so at most the in-flight batch is lost
and re-running ``add`` resumes (duplicates are skipped by content hash). One writer at a time
holds ``LOCK``; readers never take it and never block.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from filelock import FileLock, Timeout

from lyrebird.core.fingerprint import content_hash
from lyrebird.core.progress import progress
from lyrebird.encoders import AudioError

from . import store
from .ingest import MAX_DURATION_S, Embedded, discover, embed_file, file_metadata
from .model import LibraryModel, load_model
from .search import SearchMixin
from .vectors import (
    IndexPolicy,
    apply_params,
    build_index,
    choose_kind,
    index_ids,
    load_index,
    maybe_gpu,
    save_index,
)

log = logging.getLogger("lyrebird.index")
DB, TRACKS, SEGMENTS, LOCK = "library.sqlite", "tracks.faiss", "segments.faiss", "LOCK"


class LibraryError(ValueError):
    """The library cannot do what was asked (missing, locked, wrong model, unknown track)."""


@dataclass
class Hit:
    """One search result. ``start_s``/``end_s`` locate the best-matching segment."""

    track_id: int
    path: str
    score: float
    start_s: float
    end_s: float
    title: str | None = None
    artist: str | None = None
    tags: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class AddReport:
    """What ``add`` did: ``added`` (path, id), ``duplicates`` (path, existing id), ``failed``
    (path, reason)."""

    added: list[tuple[str, int]] = field(default_factory=list)
    duplicates: list[tuple[str, int]] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"added": [{"path": p, "track_id": i} for p, i in self.added],
                "duplicates": [{"path": p, "track_id": i} for p, i in self.duplicates],
                "failed": [{"path": p, "reason": r} for p, r in self.failed]}


class Library(SearchMixin):
    """Open with :meth:`create` or :meth:`open`. Not thread-safe; one instance per thread."""

    def __init__(self, path: Path, readonly: bool, model: LibraryModel | None,
                 policy: IndexPolicy):
        self.path, self.readonly, self.policy = path, readonly, policy
        self.con = store.connect(path / DB, readonly=readonly)
        self.meta = store.get_meta(self.con)
        if "fingerprint" not in self.meta:
            raise LibraryError(f"'{path}': not a Lyrebird library (no model fingerprint in {DB})")
        self._model = model
        if model is not None:
            self._check_model(model)
        self._stamp: tuple | None = None
        self._tracks = self._segments = None
        self._text_cache: dict[str, np.ndarray] = {}
        self._load_indexes()

    # ------------------------------------------------------------------ lifecycle
    @classmethod
    def create(cls, path: str | os.PathLike, model: str | LibraryModel = "default", *,
               policy: IndexPolicy = IndexPolicy(), segment_s: float = 10.0,
               hop_s: float = 5.0) -> Library:
        """Create an empty library at ``path`` embedding with ``model`` (a spec or object)."""
        p = Path(path)
        if (p / DB).exists():
            raise LibraryError(f"'{p}': a library already exists here; use Library.open")
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
             readonly: bool = False) -> Library:
        """Open an existing library. The model named in its meta is loaded on first use."""
        p = Path(path)
        if not (p / DB).is_file():
            raise LibraryError(f"'{p}': no library here (missing {DB}); create one first")
        meta = store.get_meta(store.connect(p / DB, readonly=True))
        policy = IndexPolicy(**json.loads(meta.get("policy", "{}")))
        return cls(p, readonly=readonly, model=model, policy=policy)

    def close(self) -> None:
        self.con.close()

    def __enter__(self) -> Library:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ------------------------------------------------------------------ model
    @property
    def model(self) -> LibraryModel:
        if self._model is None:
            m = load_model(self.meta["model"])
            self._check_model(m)
            self._model = m
        return self._model

    def _check_model(self, m: LibraryModel) -> None:
        if m.fingerprint() != self.meta["fingerprint"]:
            raise LibraryError(
                f"'{self.path}': built with model {self.meta['model']!r} (fingerprint "
                f"{self.meta['fingerprint']}), but {m.name!r} has fingerprint {m.fingerprint()}; "
                "vectors from different models cannot be mixed — run `lyrebird index reembed`")

    # ------------------------------------------------------------------ FAISS state
    def _files_stamp(self) -> tuple:
        out = []
        for name in (TRACKS, SEGMENTS):
            try:
                st = (self.path / name).stat()
                out.append((st.st_ino, st.st_mtime_ns, st.st_size))
            except FileNotFoundError:
                out.append(None)
        return tuple(out)

    def _load_indexes(self) -> None:
        """Load the FAISS files; rebuild from SQLite when they disagree with committed rows."""
        stamp = self._files_stamp()
        info = json.loads(store.get_meta(self.con).get("index_info", "{}"))
        loaded = {}
        for name, table in ((TRACKS, "tracks"), (SEGMENTS, "segments")):
            ids_db = {int(r[0]) for r in self.con.execute(f"SELECT id FROM {table}")}
            idx = None
            if (self.path / name).is_file():
                try:
                    idx = load_index(self.path / name)
                except RuntimeError as e:
                    log.warning("%s: unreadable (%s); rebuilding from the database", name, e)
            ids_idx = set(index_ids(idx).tolist()) if idx is not None else set()
            # A reader may see FAISS files a writer published just before its COMMIT: a superset
            # of the committed rows is fine (uncommitted hits are filtered out by SQLite). A
            # writer opening after a crash discards the uncommitted ids by rebuilding.
            ahead_ok = self.readonly and ids_db <= ids_idx
            if idx is None or (ids_idx != ids_db and not ahead_ok):
                if idx is not None and not self.readonly:
                    log.warning("%s: index and database disagree (interrupted write?); rebuilding",
                                name)
                idx, info[table] = self._build(table)
                if not self.readonly:
                    save_index(idx, self.path / name)
            else:
                apply_params(idx, info.get(table, {}))
            loaded[table] = idx
        if not self.readonly:
            with self.con:
                store.set_meta(self.con, index_info=json.dumps(info))
        self._info = info
        self._tracks = maybe_gpu(loaded["tracks"], self.policy)
        self._segments = maybe_gpu(loaded["segments"], self.policy)
        self._stamp = self._files_stamp() if not self.readonly else stamp

    def _build(self, table: str):
        ids, vecs = store.all_vectors(self.con, table)
        dim = int(self.meta["dim"])
        if len(ids) == 0:
            vecs = np.zeros((0, dim), np.float32)
        return build_index(ids, vecs, dim, self.policy)

    def _refresh(self) -> None:
        """Readers: pick up FAISS files renamed into place by a writer since the last query."""
        if self._files_stamp() != self._stamp:
            self._load_indexes()

    # ------------------------------------------------------------------ writing
    def _lock(self) -> FileLock:
        if self.readonly:
            raise LibraryError(f"'{self.path}': opened read-only")
        return FileLock(str(self.path / LOCK), timeout=10)

    def add(self, paths: Iterable[str | os.PathLike], batch_size: int = 16,
            max_duration_s: float = MAX_DURATION_S) -> AddReport:
        """Embed and add audio files or folders; skips duplicates, reports bad files, goes on.

        Commits every ``batch_size`` tracks; an interruption loses at most that batch.
        """
        files, missing = discover(paths)
        seg, hop = float(self.meta["segment_s"]), float(self.meta["hop_s"])

        def items():
            for f in progress(files, desc="index add"):
                try:
                    h = content_hash(f)
                except OSError as e:
                    yield str(f), None, f"unreadable: {e}"
                    continue
                yield str(f), h, lambda f=f: (file_metadata(f), embed_file(
                    self.model, f, seg, hop, max_duration_s=max_duration_s))

        rep = self._ingest(items(), batch_size)
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

        return self._ingest(((p, h, lambda p=p, m=m, e=e: check(p, m, e)) for p, h, m, e in items),
                            batch_size)

    def _ingest(self, items, batch_size: int) -> AddReport:
        """Shared loop: ``(path, hash, make)`` items, where ``make()`` → ``(meta, Embedded)`` is
        only called for new content (or ``(path, None, reason)`` for a failure)."""
        rep = AddReport()
        first_path: dict[str, str] = {}  # content hash -> first path in this call
        in_call_dups: list[tuple[str, str]] = []
        pending: list[tuple[str, str, dict, Embedded]] = []
        try:
            with self._lock():
                self._refresh_writer()
                for path, h, make in items:
                    if h is None:
                        rep.failed.append((path, make))
                        continue
                    dup = store.has_hash(self.con, h)
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
                        rep.added += self._commit(pending)
                        pending = []
                if pending:
                    rep.added += self._commit(pending)
        except Timeout:
            raise LibraryError(f"'{self.path}': another process is writing (LOCK held)") from None
        ids = dict(rep.added)
        rep.duplicates += [(p, ids[first]) for p, first in in_call_dups if first in ids]
        return rep

    def _refresh_writer(self) -> None:
        self.meta = store.get_meta(self.con)
        self._load_indexes()

    def _zs_tags(self, vec: np.ndarray, top: int = 5) -> dict:
        if not self.model.has_text:
            return {}
        try:
            scores = self.tag_vector(vec)
        except ValueError:  # no vocabulary for this model
            return {}
        return dict(list(scores.items())[:top])

    def _commit(self, pending) -> list[tuple[str, int]]:
        """Insert a batch and publish it: rows, then FAISS files (atomic), then COMMIT."""
        added, t_ids, t_vecs, s_ids, s_vecs = [], [], [], [], []
        self.con.execute("BEGIN IMMEDIATE")
        try:
            for path, h, meta, emb in pending:
                tid, sids = store.insert_track(
                    self.con, path=path, content_hash=h, duration_s=emb.duration_s, meta=meta,
                    vector=emb.vector, segments=emb.segments, seg_vectors=emb.seg_vectors,
                    zs_tags=self._zs_tags(emb.vector))
                added.append((path, tid))
                t_ids.append(tid)
                t_vecs.append(emb.vector)
                s_ids += sids
                s_vecs.append(emb.seg_vectors.astype(np.float16).astype(np.float32))
            self._publish(np.array(t_ids), np.stack(t_vecs), np.array(s_ids), np.concatenate(s_vecs))
            self.con.execute("COMMIT")
        except BaseException:
            self.con.execute("ROLLBACK")
            self._load_indexes()  # FAISS files may be ahead of the rolled-back rows
            raise
        return added

    def _publish(self, t_ids, t_vecs, s_ids, s_vecs) -> None:
        info = dict(self._info)
        for name, table, ids, vecs in ((TRACKS, "tracks", t_ids, t_vecs),
                                       (SEGMENTS, "segments", s_ids, s_vecs)):
            cur = self._tracks if table == "tracks" else self._segments
            n_after = cur.ntotal + len(ids)
            want = choose_kind(n_after, int(self.meta["dim"]), self.policy)
            if info.get(table, {}).get("kind") == want or (want != "flat" and n_after < 256):
                cur.add_with_ids(np.ascontiguousarray(vecs, np.float32), ids.astype(np.int64))
                info.setdefault(table, {})["vectors"] = int(cur.ntotal)
                idx = cur
            else:  # crossing a threshold: rebuild with the new kind from rows + this batch
                idx, info[table] = self._build(table)
            save_index(idx, self.path / name)
            if table == "tracks":
                self._tracks = idx
            else:
                self._segments = idx
        store.set_meta(self.con, index_info=json.dumps(info))
        self._info = info
        self._stamp = self._files_stamp()

    def remove(self, track_id: int) -> None:
        """Delete a track and its segments from the database and both indexes."""
        with self._lock():
            self._refresh_writer()
            if not store.get_tracks(self.con, [track_id]):
                raise LibraryError(f"'{self.path}': no track with id {track_id}")
            seg_ids = [int(r[0]) for r in self.con.execute(
                "SELECT id FROM segments WHERE track_id = ?", (track_id,))]
            self.con.execute("BEGIN IMMEDIATE")
            try:
                self.con.execute("DELETE FROM segments WHERE track_id = ?", (track_id,))
                self.con.execute("DELETE FROM tracks WHERE id = ?", (track_id,))
                self._tracks.remove_ids(np.array([track_id], np.int64))
                self._segments.remove_ids(np.array(seg_ids, np.int64))
                save_index(self._tracks, self.path / TRACKS)
                save_index(self._segments, self.path / SEGMENTS)
                self.con.execute("COMMIT")
            except BaseException:
                self.con.execute("ROLLBACK")
                self._load_indexes()
                raise
            self._stamp = self._files_stamp()

    def reembed(self, model: str | LibraryModel) -> AddReport:
        """Re-embed every track with another model and switch the library to it atomically
        (see :func:`lyrebird.index.reembed.reembed`)."""
        from .reembed import reembed

        return reembed(self, model)
