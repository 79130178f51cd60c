"""Read side of a library: text→music, music→music, moments, zero-shot tags, rows, info.

:class:`LibraryReader` is composed into :class:`lyrebird.index.Library`, whose query methods
delegate to it; it never writes. It gets what it reads through its constructor: the SQLite
connection, the FAISS indexes, the model handle, the library's meta and its path. Where in a
track a vector matches (a hit's moment, the segment scores of audio queries): :mod:`.moments`.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from lyrebird.core.fingerprint import content_hash
from lyrebird.encoders import load_audio, prepare_waveform
from lyrebird.mulan import DEFAULT_TEMPLATE

from . import moments, store, tag_store, tagspace, works
from .indexes import LibraryIndexes
from .ingest import Embedded, embed_file, embed_waveform
from .model import ModelHandle, text_key
from .moments import SEGMENT_CANDIDATES, best_segments, segment_matches
from .types import Hit, LibraryError, TrackRow
from .vectors import bytes_per_vector

SEGMENT_WEIGHT = 0.75
"""Weight of the segment score in audio queries (:meth:`LibraryReader.search_audio`); chosen
by ``lyrebird bench identify`` on excerpts of real recordings (README)."""
GROUP_FETCH = 4
"""With grouping by work, ``GROUP_FETCH × k`` hits (at most 200) are ranked before grouping."""


def _fetch(k: int, group: bool) -> int:
    return min(max(GROUP_FETCH * k, k), 200) if group else k


class LibraryReader:
    """Queries over one library: ``con`` (its database), ``indexes`` (its FAISS indexes, picked
    up again when a writer renames new files into place), ``model`` (the handle of its model),
    ``meta`` (its meta: dim, segment_s, hop_s, sample_rate, model, fingerprint) and ``path``
    (for messages)."""

    def __init__(self, con: sqlite3.Connection, indexes: LibraryIndexes, model: ModelHandle,
                 meta: Mapping[str, str], path: Path):
        self.con, self.indexes, self.model, self.meta, self.path = con, indexes, model, meta, path
        self._tags: tuple[tuple, tagspace.TagSpace] | None = None

    def warm_up(self) -> None:
        """Load the model and embed its tag prompts now (the zero-shot tags stored with each
        added track, cached process-wide), so that the first add or query does not pay them."""
        self.model.top_tags(np.zeros(int(self.meta["dim"]), np.float32))

    # -------------------------------------------------------------- tag space
    def tag_space(self) -> tagspace.TagSpace | None:
        """The library in the model's tag space (:mod:`lyrebird.index.tagspace`), or ``None``
        when the model has no tag head. Rebuilt when the library's content changes."""
        head = self.model.tag_head
        if head is None or not self.model.model.has_text:
            return None
        version = tag_store.tags_version(self.con)
        key = (store.generation(self.con), store.max_track_id(self.con), head.fingerprint(),
               version)
        if self._tags is None or self._tags[0] != key:
            from lyrebird.mulan.tag_head import tag_groups
            from lyrebird.mulan.tag_space import group_vectors

            names, col_group = tag_groups(head.names)
            stored = head.stored_name_vectors(text_key(self.model.model)) or {}
            groups = group_vectors([np.stack([stored[n] for n in g]) if all(n in stored for n in g)
                                    else self.model.text_vectors(g) for g in names])
            self._tags = (key, tagspace.build(self.con, (str(self.path), head.fingerprint(),
                                                         version), head, groups, col_group))
        return self._tags[1]

    def tag_probs(self, vectors: np.ndarray, tags: np.ndarray | None = None
                  ) -> dict[str, float] | None:
        """Distilled tag probabilities of audio, best first, or ``None`` without a tag head
        (:meth:`lyrebird.index.model.ModelHandle.distilled_tags`)."""
        return self.model.distilled_tags(vectors, tags)

    # -------------------------------------------------------------- query vectors
    def audio_embedded(self, audio: str | os.PathLike | np.ndarray, sr: int | None = None
                       ) -> Embedded:
        """A query file or ``(T,)`` array at ``sr`` Hz → its segment vectors and normalised
        mean vector, embedded the way a track is when it is added."""
        if not isinstance(audio, np.ndarray):
            held = self.stored_embedded(audio)
            if held is not None:
                return held
        m = self.model.model
        seg, hop = float(self.meta["segment_s"]), float(self.meta["hop_s"])
        if isinstance(audio, np.ndarray):
            return embed_waveform(m, prepare_waveform(audio, sr or m.SAMPLE_RATE, m.SAMPLE_RATE),
                                  seg, hop)
        return embed_file(m, audio, seg, hop)

    def stored_embedded(self, path: str | os.PathLike) -> Embedded | None:
        """A query file the library holds (the same content, by SHA-256) as
        :meth:`track_embedded` gives it: what embedding it again would give, with no audio
        model; ``None`` for a file the library does not hold or cannot read."""
        try:
            tid = store.has_hash(self.con, content_hash(path))
        except OSError:
            return None
        return self.track_embedded(tid) if tid is not None else None

    def track_embedded(self, track_id: int) -> Embedded | None:
        """A library track's stored segments and vector as :class:`Embedded` (a track as a
        query), or ``None`` when it has none."""
        row = store.get_tracks(self.con, [int(track_id)]).get(int(track_id))
        vec = store.track_vector(self.con, int(track_id))
        times, vecs = store.track_segments(self.con, int(track_id))
        if row is None or vec is None or not len(vecs):
            return None
        tags = tag_store.track_tags(self.con, [int(track_id)]).get(int(track_id))
        sids = store.segment_ids(self.con, int(track_id))
        found = tag_store.segment_tags(self.con, sids)
        seg_tags = np.stack([found[i] for i in sids]) if tags is not None and \
            len(found) == len(sids) == len(vecs) else None
        return Embedded(float(row.duration_s), [(float(a), float(b)) for a, b in times],
                        np.asarray(vecs, np.float32), np.asarray(vec, np.float32), tags, seg_tags)

    def audio_vector(self, audio: str | os.PathLike | np.ndarray, sr: int | None = None) -> np.ndarray:
        """A query file or ``(T,)`` array at ``sr`` Hz → its normalised mean segment vector
        ``(DIM,)`` (the same vector a track gets when it is added)."""
        return self.audio_embedded(audio, sr).vector

    @staticmethod
    def _is_text(query) -> bool:
        """Whether a query is text (not an array, a path or the name of an existing file)."""
        return not isinstance(query, np.ndarray | Path) and not Path(str(query)).is_file()

    def _query_vector(self, query) -> np.ndarray:
        if isinstance(query, np.ndarray):
            return query.astype(np.float32) if query.ndim == 1 and len(query) == int(self.meta["dim"]) \
                else self.audio_vector(query)
        if not self._is_text(query):
            return self.audio_vector(query)
        return self.model.text_vectors([str(query)])[0]

    # -------------------------------------------------------------- results
    def _best_segments(self, rows: dict[int, TrackRow], q: np.ndarray,
                       space: tagspace.TagSpace | None = None) -> dict[int, tuple[float, float]]:
        """Track id → ``(start_s, end_s)`` of its segment closest to ``q``, or with ``space``
        (a fused text search) its best segment by the fused score (:mod:`.moments`)."""
        key = (str(self.path), self.meta["fingerprint"])
        if space is not None:
            return moments.best_fused_segments(self.con, key, rows, q, space)
        return best_segments(self.con, key, rows, q)

    def best_segment(self, track_id: int, q: np.ndarray) -> tuple[float, float]:
        """``(start_s, end_s)`` of a track's segment closest to the vector ``q`` (the first of
        ties); ``(0.0, 0.0)`` for a track without segments or not in the library."""
        rows = store.get_tracks(self.con, [int(track_id)])
        return self._best_segments(rows, q).get(int(track_id), (0.0, 0.0))

    def _search_tracks(self, q: np.ndarray, k: int, exclude: int | None = None) -> list[Hit]:
        self.indexes.refresh()
        n = self.indexes.index("tracks").ntotal
        if n == 0:
            return []
        scores, ids = self.indexes.knn("tracks", q, min(n, k + 1))
        rows = store.get_tracks(self.con, [int(i) for i in ids if i >= 0])
        keep = [(float(s), int(i)) for s, i in zip(scores, ids, strict=True)
                if int(i) in rows and int(i) != exclude][:k]  # not yet committed: invisible
        best = self._best_segments({i: rows[i] for _, i in keep}, q)
        return [Hit(i, rows[i].path, s, *best.get(i, (0.0, 0.0)), rows[i].title,
                    rows[i].artist, rows[i].zs_tags) for s, i in keep]

    def search(self, query: str, k: int = 10, group: bool = True) -> list[Hit]:
        """Text → tracks: the ``k`` best tracks for a query in any language; with ``group``,
        one per work (:mod:`lyrebird.index.works`).

        With a tag head, each track scores ``alpha · z(cosine) + (1 − alpha) · z(tag score)``
        (:mod:`lyrebird.mulan.tag_space`; ``score`` is then that fused value, in standard
        deviations); without one, the cosine."""
        if not isinstance(query, str) or not query.strip():
            raise ValueError("search query must be a non-empty string")
        q = self.model.text_vectors([query])[0]
        space = self.tag_space()
        n = _fetch(k, group)
        hits = (self._search_tracks(q, n) if space is None or space.query_alpha(q) >= 1.0
                else self._search_fused(q, n, space))
        return self._grouped(hits, k, group)

    def _grouped(self, hits: list[Hit], k: int, group: bool, skip_track: int | None = None
                 ) -> list[Hit]:
        if not group:
            return hits[:k]
        ids = [h.track_id for h in hits] + ([skip_track] if skip_track is not None else [])
        rows = store.get_tracks(self.con, ids)
        skip = works.work_key(rows[skip_track]) if skip_track in rows else None
        return works.group_by_work(hits, rows, k, skip)

    def _hits(self, ids: list[int], score: dict[int, float], q: np.ndarray,
              space: tagspace.TagSpace | None = None) -> list[Hit]:
        rows = store.get_tracks(self.con, ids)
        ids = [i for i in ids if i in rows]  # not yet committed: invisible
        best = self._best_segments({i: rows[i] for i in ids}, q, space)
        return [Hit(i, rows[i].path, float(score[i]), *best.get(i, (0.0, 0.0)),
                    rows[i].title, rows[i].artist, rows[i].zs_tags) for i in ids]

    def _search_fused(self, q: np.ndarray, k: int, space: tagspace.TagSpace) -> list[Hit]:
        """Fused text search over candidates: the nearest tracks by cosine and the best by
        tag score (:data:`lyrebird.index.tagspace.CANDIDATES` each)."""
        self.indexes.refresh()
        n = self.indexes.index("tracks").ntotal
        if n == 0 or len(space.ids) == 0:
            return []
        tag, mu_c, sd_c = space.text_scores(q)
        _, near = self.indexes.knn("tracks", q, min(n, tagspace.CANDIDATES))
        best_tag = space.ids[np.argsort(-tag)[: tagspace.CANDIDATES]]
        cand = np.unique(np.concatenate([near[near >= 0], best_tag]).astype(np.int64))
        cand = cand[np.isin(cand, space.ids)]
        if len(cand) == 0:
            return []
        cos = store.vectors_by_id(self.con, "tracks", cand) @ q
        t = tag[np.searchsorted(space.ids, cand)]
        a = space.query_alpha(q)
        score = a * (cos - mu_c) / sd_c + (1 - a) * (t - tag.mean()) / (tag.std() + 1e-9)
        keep = [int(cand[j]) for j in np.argsort(-score)[:k]]
        return self._hits(keep, dict(zip(cand.tolist(), score.tolist(), strict=True)), q, space)

    def _similar_fused(self, tid: int, k: int, space: tagspace.TagSpace) -> list[Hit]:
        """Tracks like library track ``tid`` by fused vectors: candidates are its nearest
        tracks by contrastive vector and by centred tag logits, ranked by the fused cosine
        (:func:`lyrebird.mulan.tag_space.fused_vectors`)."""
        v = self.track_vector(tid)
        pos = int(np.searchsorted(space.ids, tid))
        if pos >= len(space.ids) or space.ids[pos] != tid:
            return self._search_tracks(v, k, exclude=tid)
        self.indexes.refresh()
        n = self.indexes.index("tracks").ntotal
        _, near = self.indexes.knn("tracks", v, min(n, tagspace.CANDIDATES))
        c = tagspace.centred(space, space.probs)
        c /= np.maximum(np.linalg.norm(c, axis=1, keepdims=True), 1e-12)
        by_tags = space.ids[np.argsort(-(c @ c[pos]))[: tagspace.CANDIDATES]]
        cand = np.unique(np.concatenate([near[near >= 0], by_tags]).astype(np.int64))
        cand = cand[np.isin(cand, space.ids) & (cand != tid)]
        if len(cand) == 0:
            return []
        at = np.searchsorted(space.ids, cand)
        fused = space.fused(store.vectors_by_id(self.con, "tracks", cand), space.probs[at])
        score = fused @ space.fused(v[None], space.probs[pos][None])[0]
        keep = [int(cand[j]) for j in np.argsort(-score)[:k]]
        return self._hits(keep, dict(zip(cand.tolist(), score.tolist(), strict=True)), v)

    def similar(self, item: int | str | os.PathLike | np.ndarray, k: int = 10,
                sr: int | None = None, group: bool = True) -> list[Hit]:
        """Tracks most similar to a library track id (itself and, with ``group``, the rest of
        its work excluded; by track vector) or to audio — a file or a ``(T,)`` array at ``sr``
        Hz — by :meth:`search_audio`; with ``group``, one per work."""
        n = _fetch(k, group)
        if isinstance(item, (int, np.integer)) or (isinstance(item, str) and item.isdigit()
                                                   and not Path(item).exists()):
            tid = int(item)
            space = self.tag_space()
            hits = (self._similar_fused(tid, n, space)
                    if space is not None and space.head.cfg.beta < 1.0
                    else self._search_tracks(self.track_vector(tid), n, exclude=tid))
            return self._grouped(hits, k, group, skip_track=tid)
        return self._grouped(self.search_audio(self.audio_embedded(item, sr), n), k, group)

    def search_audio(self, emb: Embedded, k: int = 10, *, weight: float = SEGMENT_WEIGHT,
                     exclude: int | None = None) -> list[Hit]:
        """Audio → tracks, for an excerpt as well as a whole recording.

        Each query segment (at most ``MAX_QUERY_SEGMENTS``, evenly spread) is searched in the
        segment index; a track's *segment score* is, averaged over the query segments, its best
        segment's cosine (the ``SEGMENT_CANDIDATES``-th score when none of its segments was
        found). Candidates are those tracks and the nearest tracks by mean vector; the score
        is ``weight · segment score + (1 − weight) · cos(query mean, track vector)``. Each hit
        carries the matching moment of the library track (``start_s``, ``end_s``).
        """
        if not 0.0 <= weight <= 1.0:
            raise ValueError(f"weight must be between 0 and 1, got {weight}")
        self.indexes.refresh()
        n_t = self.indexes.index("tracks").ntotal
        if n_t == 0:
            return []
        q = np.asarray(emb.vector, np.float32)
        _, t_ids = self.indexes.knn("tracks", q, min(n_t, max(k + 1, SEGMENT_CANDIDATES)))
        cand = {int(i) for i in t_ids if i >= 0}
        best, floor, moment = segment_matches(self.con, self.indexes, np.asarray(
            emb.seg_vectors, np.float32)) if weight > 0 else ([], [], {})
        for found in best:
            cand |= set(found)
        cand.discard(exclude if exclude is not None else -1)
        rows = store.get_tracks(self.con, list(cand))
        ids = np.array([i for i in cand if i in rows], np.int64)  # uncommitted: invisible
        if len(ids) == 0:
            return []
        score = store.vectors_by_id(self.con, "tracks", ids) @ q
        if best:
            seg_score = np.array([np.mean([f.get(int(i), fl) for f, fl in zip(best, floor,
                                                                              strict=True)])
                                  for i in ids])
            score = weight * seg_score + (1 - weight) * score
        hits = []
        for j in np.argsort(-score)[:k]:
            r = rows[int(ids[j])]
            a, b = moment[r.id][1:] if r.id in moment else self._best_segments({r.id: r}, q).get(
                r.id, (0.0, 0.0))
            hits.append(Hit(r.id, r.path, float(score[j]), a, b, r.title, r.artist, r.zs_tags))
        return hits

    def search_segments(self, query, k: int = 10) -> list[Hit]:
        """Moments: the ``k`` best segments (``segment_s`` windows, 10 s by default) for text,
        an audio file or an array. With a tag head, text ranks them by the fused score of
        text search (:func:`lyrebird.index.moments.fused_moments`; ``score`` in standard
        deviations), audio by cosine."""
        q = self._query_vector(query)
        space = self.tag_space() if self._is_text(query) else None
        if space is not None and space.query_alpha(q) < 1.0:
            found = moments.fused_moments(self.con, self.indexes, space, q, k)
            scores, ids = np.array([s for _, s in found]), np.array([i for i, _ in found])
            return self._segment_hits(scores, ids)
        self.indexes.refresh()
        n = self.indexes.index("segments").ntotal
        if n == 0:
            return []
        scores, ids = self.indexes.knn("segments", q, min(n, k))
        return self._segment_hits(scores, ids)

    def _segment_hits(self, scores: np.ndarray, ids: np.ndarray) -> list[Hit]:
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
        return self.tag_vector(self.track_vector(track_id), tags, template)

    def track(self, track_id: int) -> TrackRow:
        """The stored row of one track (path, title, duration_s, tags…)."""
        row = store.get_tracks(self.con, [int(track_id)]).get(int(track_id))
        if row is None:
            raise LibraryError(f"'{self.path}': no track with id {track_id}")
        return row

    def tracks(self, limit: int | None = None, offset: int = 0) -> list[TrackRow]:
        """Stored track rows in id order, ``limit`` at most."""
        return store.all_tracks(self.con, limit, offset)

    def counts(self) -> dict[str, float]:
        """``{"tracks", "segments", "hours"}`` of the committed rows."""
        return store.counts(self.con)

    def content_key(self) -> tuple:
        """Changes with every content change: fingerprint, counts, highest id, write generation."""
        c = self.counts()
        return (self.meta.get("fingerprint"), c["tracks"], c["segments"], round(c["hours"], 9),
                store.max_track_id(self.con), store.generation(self.con))

    def track_vectors(self) -> tuple[np.ndarray, np.ndarray]:
        """``(ids (N,), vectors (N, DIM) float32)`` of every committed track, in id order."""
        ids, vecs = store.all_vectors(self.con, "tracks")
        return ids, vecs if len(ids) else np.zeros((0, int(self.meta["dim"])), np.float32)

    def track_vector(self, track_id: int) -> np.ndarray:
        """A track's stored ``(DIM,)`` vector; :class:`LibraryError` for an unknown id."""
        v = store.track_vector(self.con, int(track_id))
        if v is None:
            raise LibraryError(f"'{self.path}': no track with id {track_id}")
        return v

    def track_segments(self, track_id: int) -> tuple[np.ndarray, np.ndarray]:
        """``(times (S, 2), vectors (S, DIM))`` of a track's segments in time order."""
        return store.track_segments(self.con, int(track_id))

    def info(self) -> dict:
        """Counts, hours, index kinds, model and memory per track."""
        self.indexes.refresh()
        c = store.counts(self.con)
        dim = int(self.meta["dim"])
        kinds = {t: self.indexes.kind(t) for t in ("tracks", "segments")}
        seg_per_track = c["segments"] / c["tracks"] if c["tracks"] else 0.0
        mem = bytes_per_vector(kinds["tracks"], dim) + seg_per_track * bytes_per_vector(kinds["segments"], dim)
        spec = self.meta["model"]  # text search, known without loading the model unless a plug-in
        text = (self.model.model.has_text if self.model.loaded else
                None if spec.startswith("py:") else not spec.startswith("encoder:"))
        return {"path": str(self.path), **c, "hours": round(c["hours"], 3), "model": spec,
                "fingerprint": self.meta["fingerprint"], "dim": dim,
                "index": kinds, "index_params": self.indexes.info,
                "segment_s": float(self.meta["segment_s"]), "hop_s": float(self.meta["hop_s"]),
                "memory_per_track_bytes": round(mem),
                **({} if text is None else {"text_search": text})}

    def audio_segment(self, track_id: int, start_s: float, duration_s: float = 10.0) -> np.ndarray:
        """Decode part of a library track (``(T,)`` float32 at the model rate), e.g. to play."""
        return load_audio(self.track(track_id).path, int(self.meta["sample_rate"]),
                          offset_s=start_s, duration_s=duration_s)
