"""The two FAISS indexes of a library folder (``tracks.faiss``, ``segments.faiss``), kept in step
with the committed SQLite rows.

A :class:`LibraryIndexes` loads the files and rebuilds them from the database when they
disagree (an interrupted write), picks up files a writer renamed into place (readers), adds or
removes vectors and publishes the files (writers), and answers k-nearest-neighbour queries. Its
tuned search parameters (``info``) are kept in the ``index_info`` meta key.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from pathlib import Path

import numpy as np

from lyrebird.core.atomic import fsync_dir, remove_stale_temps

from . import store
from .faiss_import import faiss
from .vectors import (
    IndexPolicy,
    apply_params,
    build_index,
    choose_kind,
    index_ids,
    load_index,
    maybe_gpu,
    save_index,
    search_rerank,
    single_thread,
)

log = logging.getLogger("lyrebird.index")
TRACKS, SEGMENTS = "tracks.faiss", "segments.faiss"
FILES = {"tracks": TRACKS, "segments": SEGMENTS}


class LibraryIndexes:
    """The FAISS indexes of the library at ``folder`` over vectors of width ``dim``.

    ``con`` is the library's connection. A ``readonly`` instance (a reader, or a writer not
    holding ``LOCK``) never writes files or meta, rebuilds in memory what disagrees with the
    rows, and accepts files ahead of the committed rows (a writer publishes just before its
    COMMIT). Loads on construction.
    """

    def __init__(self, folder: Path, con: sqlite3.Connection, dim: int, policy: IndexPolicy,
                 readonly: bool):
        self.folder, self.con, self.dim = Path(folder), con, int(dim)
        self.policy, self.readonly = policy, readonly
        self.info: dict = {}  # table -> {"kind", "vectors", tuned params}
        self._index: dict[str, faiss.Index] = {}
        self._stamp: tuple | None = None
        self.load()

    # ------------------------------------------------------------------ reading
    def index(self, table: str) -> faiss.Index:
        """The live index of ``"tracks"`` or ``"segments"``."""
        return self._index[table]

    def kind(self, table: str) -> str:
        return self.info.get(table, {}).get("kind", "flat")

    def knn(self, table: str, q: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """``(scores, ids)`` of the ``k`` nearest rows to ``q`` ``(D,)`` (each ``(k,)``), or to
        each row of ``q`` ``(Q, D)`` (each ``(Q, k)``); IVF-PQ candidates are re-ranked with
        the exact vectors from SQLite."""
        index = self._index[table]
        one = q.ndim == 1
        q = np.ascontiguousarray(q[None] if one else q, np.float32)
        with single_thread():
            if self.info.get(table, {}).get("kind") == "ivfpq":
                s, i = search_rerank(index, q, k, lambda r: store.vectors_by_id(self.con, table, r))
            else:
                s, i = index.search(q, k)
        return (s[0], i[0]) if one else (s, i)

    def _files_stamp(self) -> tuple:
        out = []
        for name in (TRACKS, SEGMENTS):
            try:
                st = (self.folder / name).stat()
                out.append((st.st_ino, st.st_mtime_ns, st.st_size))
            except FileNotFoundError:
                out.append(None)
        return tuple(out)

    def refresh(self) -> None:
        """Readers: pick up FAISS files renamed into place by a writer since the last query."""
        if self._files_stamp() != self._stamp:
            self.load()

    def load(self) -> None:
        """Load the FAISS files; rebuild from SQLite when they disagree with committed rows."""
        stamp = self._files_stamp()
        info = json.loads(store.get_meta(self.con).get("index_info", "{}"))
        loaded = {}
        for table, name in FILES.items():
            ids_db = store.row_ids(self.con, table)
            idx = None
            if (self.folder / name).is_file():
                try:
                    idx = load_index(self.folder / name)
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
                idx, info[table] = self.build(table)
                if not self.readonly:
                    save_index(idx, self.folder / name)
            else:
                apply_params(idx, info.get(table, {}))
            loaded[table] = idx
        if not self.readonly:
            with self.con:
                store.set_meta(self.con, index_info=json.dumps(info))
        self.info = info
        self._index = {t: maybe_gpu(idx, self.policy) for t, idx in loaded.items()}
        self._stamp = self._files_stamp() if not self.readonly else stamp

    # ------------------------------------------------------------------ writing
    def build(self, table: str) -> tuple[faiss.Index, dict]:
        """A new index over every committed (or, inside a transaction, inserted) row."""
        ids, vecs = store.all_vectors(self.con, table)
        if len(ids) == 0:
            vecs = np.zeros((0, self.dim), np.float32)
        return build_index(ids, vecs, self.dim, self.policy)

    def publish(self, t_ids: np.ndarray, t_vecs: np.ndarray, s_ids: np.ndarray,
                s_vecs: np.ndarray) -> None:
        """Add a batch's vectors (rows already inserted, not yet committed) and write both files;
        an index crossing a kind threshold is rebuilt with the new kind."""
        info = dict(self.info)
        for table, ids, vecs in (("tracks", t_ids, t_vecs), ("segments", s_ids, s_vecs)):
            cur = self._index[table]
            n_after = cur.ntotal + len(ids)
            want = choose_kind(n_after, self.dim, self.policy)
            if info.get(table, {}).get("kind") == want or (want != "flat" and n_after < 256):
                cur.add_with_ids(np.ascontiguousarray(vecs, np.float32), ids.astype(np.int64))
                info.setdefault(table, {})["vectors"] = int(cur.ntotal)
                idx = cur
            else:  # crossing a threshold: rebuild with the new kind from rows + this batch
                idx, info[table] = self.build(table)
            save_index(idx, self.folder / FILES[table])
            self._index[table] = idx
        store.set_meta(self.con, index_info=json.dumps(info))
        self.info = info
        self._stamp = self._files_stamp()

    def remove(self, track_ids: list[int], seg_ids: list[int]) -> None:
        """Remove rows' vectors and write both files (rows already deleted, not committed)."""
        for table, ids in (("tracks", track_ids), ("segments", seg_ids)):
            self._index[table].remove_ids(np.array(ids, np.int64))
        for table in FILES:
            save_index(self._index[table], self.folder / FILES[table])
        self._stamp = self._files_stamp()

    def discard_files(self) -> None:
        """Delete both files (durably); the next :meth:`load` rebuilds them from the rows."""
        for name in FILES.values():
            (self.folder / name).unlink(missing_ok=True)
        fsync_dir(self.folder)

    def clear_stale_temps(self) -> None:
        """Delete temporary index files a killed writer left behind (call under ``LOCK``)."""
        for name in FILES.values():
            for p in remove_stale_temps(self.folder / name):
                log.info("removed %s (left by an interrupted write)", p.name)
