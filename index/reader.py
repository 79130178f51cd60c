"""Read side of a library: text→music, music→music, moments, zero-shot tags, rows, info.

:class:`LibraryReader` is composed into :class:`lyrebird.index.Library`, whose query methods
delegate to it; it never writes. It gets what it reads through its constructor: the SQLite
connection, the FAISS indexes, the model handle, the library's meta and its path.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from lyrebird.encoders import load_audio, prepare_waveform
from lyrebird.mulan import DEFAULT_TEMPLATE

from . import store
from .indexes import LibraryIndexes
from .ingest import embed_file, embed_waveform
from .model import ModelHandle
from .types import Hit, LibraryError, TrackRow
from .vectors import bytes_per_vector


class LibraryReader:
    """Queries over one library: ``con`` (its database), ``indexes`` (its FAISS indexes, picked
    up again when a writer renames new files into place), ``model`` (the handle of its model),
    ``meta`` (its meta: dim, segment_s, hop_s, sample_rate, model, fingerprint) and ``path``
    (for messages)."""

    def __init__(self, con: sqlite3.Connection, indexes: LibraryIndexes, model: ModelHandle,
                 meta: Mapping[str, str], path: Path):
        self.con, self.indexes, self.model, self.meta, self.path = con, indexes, model, meta, path

    # -------------------------------------------------------------- query vectors
    def audio_vector(self, audio: str | os.PathLike | np.ndarray, sr: int | None = None) -> np.ndarray:
        """A query file or ``(T,)`` array at ``sr`` Hz → its normalised mean segment vector
        ``(DIM,)`` (the same vector a track gets when it is added)."""
        m = self.model.model
        if isinstance(audio, np.ndarray):
            wav = prepare_waveform(audio, sr or m.SAMPLE_RATE, m.SAMPLE_RATE)
            return embed_waveform(m, wav, float(self.meta["segment_s"]),
                                  float(self.meta["hop_s"])).vector
        return embed_file(m, audio, float(self.meta["segment_s"]), float(self.meta["hop_s"])).vector

    def _query_vector(self, query) -> np.ndarray:
        if isinstance(query, np.ndarray):
            return query.astype(np.float32) if query.ndim == 1 and len(query) == int(self.meta["dim"]) \
                else self.audio_vector(query)
        if isinstance(query, Path) or (isinstance(query, str) and Path(query).is_file()):
            return self.audio_vector(query)
        return self.model.text_vectors([str(query)])[0]

    # -------------------------------------------------------------- results
    def _best_segment(self, track_id: int, q: np.ndarray) -> tuple[float, float]:
        times, vecs = store.track_segments(self.con, track_id)
        if len(times) == 0:
            return 0.0, 0.0
        i = int(np.argmax(vecs @ q))
        return float(times[i, 0]), float(times[i, 1])

    def _search_tracks(self, q: np.ndarray, k: int, exclude: int | None = None) -> list[Hit]:
        self.indexes.refresh()
        n = self.indexes.index("tracks").ntotal
        if n == 0:
            return []
        scores, ids = self.indexes.knn("tracks", q, min(n, k + 1))
        rows = store.get_tracks(self.con, [int(i) for i in ids if i >= 0])
        hits = []
        for s, i in zip(scores, ids, strict=True):
            i = int(i)
            if i < 0 or i == exclude or i not in rows:  # not yet committed: invisible
                continue
            r = rows[i]
            a, b = self._best_segment(i, q)
            hits.append(Hit(i, r.path, float(s), a, b, r.title, r.artist, r.zs_tags))
        return hits[:k]

    def _stored_vector(self, track_id: int) -> np.ndarray:
        v = store.track_vector(self.con, int(track_id))
        if v is None:
            raise LibraryError(f"'{self.path}': no track with id {track_id}")
        return v

    def search(self, query: str, k: int = 10) -> list[Hit]:
        """Text → tracks: the ``k`` best tracks for a query in any language."""
        if not isinstance(query, str) or not query.strip():
            raise ValueError("search query must be a non-empty string")
        return self._search_tracks(self.model.text_vectors([query])[0], k)

    def similar(self, item: int | str | os.PathLike, k: int = 10) -> list[Hit]:
        """Tracks most similar to a library track id or an audio file (itself excluded)."""
        if isinstance(item, int) or (isinstance(item, str) and item.isdigit()
                                     and not Path(item).exists()):
            tid = int(item)
            return self._search_tracks(self._stored_vector(tid), k, exclude=tid)
        return self._search_tracks(self.audio_vector(item), k)

    def search_segments(self, query, k: int = 10) -> list[Hit]:
        """Moments: the ``k`` best segments (``segment_s`` windows, 10 s by default) for text,
        an audio file or an array."""
        q = self._query_vector(query)
        self.indexes.refresh()
        n = self.indexes.index("segments").ntotal
        if n == 0:
            return []
        scores, ids = self.indexes.knn("segments", q, min(n, k))
        seg = store.segments_info(self.con, [int(i) for i in ids if i >= 0])
        rows = store.get_tracks(self.con, list({t for t, _, _ in seg.values()}))
        hits = []
        for s, i in zip(scores, ids, strict=True):
            if int(i) not in seg or seg[int(i)][0] not in rows:
                continue
            tid, a, b = seg[int(i)]
            r = rows[tid]
            hits.append(Hit(tid, r.path, float(s), a, b, r.title, r.artist, r.zs_tags))
        return hits

    # -------------------------------------------------------------- tags, rows and info
    def tag_vector(self, vec: np.ndarray, tags: list[str] | None = None,
                   template: str = DEFAULT_TEMPLATE) -> dict[str, float]:
        """Zero-shot tag scores (cosine similarity to ``template.format(tag)``), best first."""
        return self.model.tag_scores(vec, tags, template)

    def tag(self, track_id: int, tags: list[str] | None = None,
            template: str = DEFAULT_TEMPLATE) -> dict[str, float]:
        """Zero-shot tag scores of a library track (from its stored vector; no audio decode)."""
        return self.tag_vector(self._stored_vector(track_id), tags, template)

    def track(self, track_id: int) -> TrackRow:
        """The stored row of one track (path, title, duration_s, tags…)."""
        row = store.get_tracks(self.con, [int(track_id)]).get(int(track_id))
        if row is None:
            raise LibraryError(f"'{self.path}': no track with id {track_id}")
        return row

    def tracks(self, limit: int | None = None, offset: int = 0) -> list[TrackRow]:
        """Stored track rows in id order, ``limit`` at most."""
        return store.all_tracks(self.con, limit, offset)

    def info(self) -> dict:
        """Counts, hours, index kinds, model and memory per track."""
        self.indexes.refresh()
        c = store.counts(self.con)
        dim = int(self.meta["dim"])
        kinds = {t: self.indexes.kind(t) for t in ("tracks", "segments")}
        seg_per_track = c["segments"] / c["tracks"] if c["tracks"] else 0.0
        mem = bytes_per_vector(kinds["tracks"], dim) + seg_per_track * bytes_per_vector(kinds["segments"], dim)
        return {"path": str(self.path), **c, "model": self.meta["model"],
                "fingerprint": self.meta["fingerprint"], "dim": dim,
                "index": kinds, "index_params": self.indexes.info,
                "segment_s": float(self.meta["segment_s"]), "hop_s": float(self.meta["hop_s"]),
                "memory_per_track_bytes": round(mem), "text_search": self.model.model.has_text
                if self.model.loaded else None}

    def audio_segment(self, track_id: int, start_s: float, duration_s: float = 10.0) -> np.ndarray:
        """Decode part of a library track (``(T,)`` float32 at the model rate), e.g. to play."""
        return load_audio(self.track(track_id).path, int(self.meta["sample_rate"]),
                          offset_s=start_s, duration_s=duration_s)
