"""Read side of a library: text→music, music→music, moments, zero-shot tags, info."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from lyrebird.encoders import load_audio
from lyrebird.mulan import mtt_top50

from . import store
from .model import MuLanModel

DEFAULT_TEMPLATE = "A {} track"


def default_tag_vocabulary(model=None) -> list[str]:
    """The model's own tag vocabulary if it has one, else the MTT top-50 shipped with MuLan."""
    vocab = getattr(model, "default_tags", None)
    if vocab is None and isinstance(model, MuLanModel):
        vocab = mtt_top50()
    if vocab is None:
        raise ValueError("this model has no default tag vocabulary; pass tags=[...]")
    return list(vocab)


class SearchMixin:
    """Query methods of :class:`lyrebird.index.Library` (which provides the state)."""

    # -------------------------------------------------------------- query vectors
    def _text_vectors(self, texts: list[str]) -> np.ndarray:
        missing = [t for t in texts if t not in self._text_cache]
        if missing:
            for t, v in zip(missing, self.model.embed_text(missing), strict=True):
                self._text_cache[t] = v
        return np.stack([self._text_cache[t] for t in texts])

    def audio_vector(self, audio: str | os.PathLike | np.ndarray, sr: int | None = None) -> np.ndarray:
        """A query file or ``(T,)`` array at ``sr`` Hz → its normalised mean segment vector
        ``(DIM,)`` (the same vector a track gets when it is added)."""
        from .ingest import embed_file

        if isinstance(audio, np.ndarray):
            m = self.model
            from lyrebird.encoders import prepare_waveform

            wav = prepare_waveform(audio, sr or m.SAMPLE_RATE, m.SAMPLE_RATE)
            v = m.embed_segments([wav])[0]
            return v / max(np.linalg.norm(v), 1e-12)
        return embed_file(self.model, audio, float(self.meta["segment_s"]),
                          float(self.meta["hop_s"])).vector

    def _query_vector(self, query) -> np.ndarray:
        if isinstance(query, np.ndarray):
            return query.astype(np.float32) if query.ndim == 1 and len(query) == int(self.meta["dim"]) \
                else self.audio_vector(query)
        if isinstance(query, Path) or (isinstance(query, str) and Path(query).is_file()):
            return self.audio_vector(query)
        return self._text_vectors([str(query)])[0]

    # -------------------------------------------------------------- results
    def _knn(self, table: str, q: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """``(scores, ids)`` of the k nearest rows; IVF-PQ candidates re-ranked exactly."""
        from .vectors import search_rerank, single_thread

        index = self._tracks if table == "tracks" else self._segments
        q = np.ascontiguousarray(q[None], np.float32)
        with single_thread():
            if self._info.get(table, {}).get("kind") == "ivfpq":
                s, i = search_rerank(index, q, k, lambda r: store.vectors_by_id(self.con, table, r))
            else:
                s, i = index.search(q, k)
        return s[0], i[0]

    def _best_segment(self, track_id: int, q: np.ndarray) -> tuple[float, float]:
        times, vecs = store.track_segments(self.con, track_id)
        if len(times) == 0:
            return 0.0, 0.0
        i = int(np.argmax(vecs @ q))
        return float(times[i, 0]), float(times[i, 1])

    def _search_tracks(self, q: np.ndarray, k: int, exclude: int | None = None) -> list:
        from .library import Hit

        self._refresh()
        n = self._tracks.ntotal
        if n == 0:
            return []
        scores, ids = self._knn("tracks", q, min(n, k + 1))
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

    def search(self, query: str, k: int = 10) -> list:
        """Text → tracks: the ``k`` best tracks for a query in any language (``list[Hit]``)."""
        if not isinstance(query, str) or not query.strip():
            raise ValueError("search query must be a non-empty string")
        return self._search_tracks(self._text_vectors([query])[0], k)

    def similar(self, item: int | str | os.PathLike, k: int = 10) -> list:
        """Tracks most similar to a library track id or an audio file (itself excluded)."""
        from .library import LibraryError

        if isinstance(item, int) or (isinstance(item, str) and item.isdigit()
                                     and not Path(item).exists()):
            tid = int(item)
            v = store.track_vector(self.con, tid)
            if v is None:
                raise LibraryError(f"'{self.path}': no track with id {tid}")
            return self._search_tracks(v, k, exclude=tid)
        return self._search_tracks(self.audio_vector(item), k)

    def search_segments(self, query, k: int = 10) -> list:
        """Moments: the ``k`` best 10-second segments for text, an audio file or an array."""
        from .library import Hit

        q = self._query_vector(query)
        self._refresh()
        n = self._segments.ntotal
        if n == 0:
            return []
        scores, ids = self._knn("segments", q, min(n, k))
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

    # -------------------------------------------------------------- tags and info
    def tag_vector(self, vec: np.ndarray, tags: list[str] | None = None,
                   template: str = DEFAULT_TEMPLATE) -> dict[str, float]:
        """Zero-shot tag scores (cosine similarity to ``template.format(tag)``), best first."""
        tags = list(tags) if tags else default_tag_vocabulary(self.model)
        t = self._text_vectors([template.format(x) for x in tags])
        s = t @ vec
        order = np.argsort(-s)
        return {tags[i]: float(s[i]) for i in order}

    def tag(self, track_id: int, tags: list[str] | None = None,
            template: str = DEFAULT_TEMPLATE) -> dict[str, float]:
        """Zero-shot tag scores of a library track (from its stored vector; no audio decode)."""
        from .library import LibraryError

        v = store.track_vector(self.con, int(track_id))
        if v is None:
            raise LibraryError(f"'{self.path}': no track with id {track_id}")
        return self.tag_vector(v, tags, template)

    def track(self, track_id: int):
        """The stored row of one track (``store.TrackRow``: path, title, duration_s, tags…)."""
        from .library import LibraryError

        row = store.get_tracks(self.con, [int(track_id)]).get(int(track_id))
        if row is None:
            raise LibraryError(f"'{self.path}': no track with id {track_id}")
        return row

    def tracks(self, limit: int | None = None, offset: int = 0) -> list:
        """Stored track rows in id order (``list[store.TrackRow]``), ``limit`` at most."""
        return store.all_tracks(self.con, limit, offset)

    def info(self) -> dict:
        """Counts, hours, index kinds, model and memory per track."""
        from .vectors import bytes_per_vector

        self._refresh()
        c = store.counts(self.con)
        dim = int(self.meta["dim"])
        kinds = {t: self._info.get(t, {}).get("kind", "flat") for t in ("tracks", "segments")}
        seg_per_track = c["segments"] / c["tracks"] if c["tracks"] else 0.0
        mem = bytes_per_vector(kinds["tracks"], dim) + seg_per_track * bytes_per_vector(kinds["segments"], dim)
        return {"path": str(self.path), **c, "model": self.meta["model"],
                "fingerprint": self.meta["fingerprint"], "dim": dim,
                "index": kinds, "index_params": self._info,
                "segment_s": float(self.meta["segment_s"]), "hop_s": float(self.meta["hop_s"]),
                "memory_per_track_bytes": round(mem), "text_search": self.model.has_text
                if self._model is not None else None}

    def audio_segment(self, track_id: int, start_s: float, duration_s: float = 10.0) -> np.ndarray:
        """Decode part of a library track (``(T,)`` float32 at the model rate), e.g. to play."""
        r = store.get_tracks(self.con, [track_id]).get(track_id)
        from .library import LibraryError

        if r is None:
            raise LibraryError(f"'{self.path}': no track with id {track_id}")
        return load_audio(r.path, int(self.meta["sample_rate"]), offset_s=start_s,
                          duration_s=duration_s)
