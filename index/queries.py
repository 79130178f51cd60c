"""The read API of :class:`lyrebird.index.Library`: every query method, delegating to the
library's :class:`.reader.LibraryReader` (``Library.reader``).

Kept apart from :mod:`.library` (lifecycle and the write path) so each stays readable; the
methods and their documentation are those of ``Library``.
"""

from __future__ import annotations

import os

import numpy as np

from lyrebird.mulan import DEFAULT_TEMPLATE

from .ingest import Embedded
from .playlist import Order, Playlist, make_playlist
from .reader import SEGMENT_WEIGHT, LibraryReader
from .types import Hit, TrackRow


class LibraryQueries:
    """Search, tags, rows, vectors and counts of a library; a subclass provides ``reader``."""

    @property
    def reader(self) -> LibraryReader:
        """The read side of the library (:class:`lyrebird.index.reader.LibraryReader`)."""
        raise NotImplementedError

    # ------------------------------------------------------------------ search
    def search(self, query: str, k: int = 10, group: bool = True) -> list[Hit]:
        """Text → tracks: the ``k`` best tracks for a query in any language (``list[Hit]``);
        ``group``: one per work, the others counted in ``Hit.more_of_work``."""
        return self.reader.search(query, k, group)

    def similar(self, item: int | str | os.PathLike | np.ndarray, k: int = 10,
                sr: int | None = None, group: bool = True) -> list[Hit]:
        """Tracks most similar to a library track id (itself excluded) or to audio (a file or a
        ``(T,)`` array at ``sr`` Hz): segment and track scores fused, so an excerpt finds its
        source track and the hit's ``start_s``/``end_s`` is the matching moment; ``group``:
        one per work (a library track's own work left out)."""
        return self.reader.similar(item, k, sr, group)

    def search_audio(self, emb: Embedded, k: int = 10, *, weight: float | None = None,
                     exclude: int | None = None) -> list[Hit]:
        """:meth:`similar` for audio already embedded (:meth:`audio_embedded`); ``weight`` of the
        segment score, default :data:`lyrebird.index.reader.SEGMENT_WEIGHT` (0: track vectors
        alone)."""
        return self.reader.search_audio(emb, k, weight=SEGMENT_WEIGHT if weight is None
                                        else weight, exclude=exclude)

    def audio_embedded(self, audio: str | os.PathLike | np.ndarray, sr: int | None = None
                       ) -> Embedded:
        """A query file or ``(T,)`` array → its segment vectors and mean vector."""
        return self.reader.audio_embedded(audio, sr)

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
        return make_playlist(self.reader, query, seeds=seeds, n=n, into=into, lam=lam,
                             max_per_artist=max_per_artist, max_per_album=max_per_album,
                             order=order, pool=pool)

    def search_segments(self, query, k: int = 10) -> list[Hit]:
        """Moments: the ``k`` best 10-second segments for text, an audio file or an array."""
        return self.reader.search_segments(query, k)

    # ------------------------------------------------------------------ tags
    def tag(self, track_id: int, tags: list[str] | None = None,
            template: str = DEFAULT_TEMPLATE) -> dict[str, float]:
        """Zero-shot tag scores of a library track (from its stored vector; no audio decode)."""
        return self.reader.tag(track_id, tags, template)

    def tag_vector(self, vec: np.ndarray, tags: list[str] | None = None,
                   template: str = DEFAULT_TEMPLATE) -> dict[str, float]:
        """Zero-shot tag scores (cosine similarity to ``template.format(tag)``), best first."""
        return self.reader.tag_vector(vec, tags, template)

    def audio_vector(self, audio: str | os.PathLike | np.ndarray, sr: int | None = None) -> np.ndarray:
        """A query file or ``(T,)`` array at ``sr`` Hz → its normalised mean segment vector."""
        return self.reader.audio_vector(audio, sr)

    def tag_probs(self, vectors: np.ndarray, tags: np.ndarray | None = None
                  ) -> dict[str, float] | None:
        """Distilled tag probabilities (``{tag: p}``, best first) of audio: the tag student's
        ``tags (T,)`` when given (:attr:`lyrebird.index.ingest.Embedded.tags`), else the head's
        of the vectors ``(S, DIM)`` — a query's or a track's segments, averaged — or ``None``
        when the model has no tag head (:mod:`lyrebird.mulan.tag_head`)."""
        return self.reader.tag_probs(vectors, tags)

    def tag_space(self):
        """The library in its model's tag space (track ids, tag probabilities: a
        :class:`lyrebird.index.tagspace.TagSpace`), or ``None`` without a tag head."""
        return self.reader.tag_space()

    # ------------------------------------------------------------------ rows, vectors, counts
    def track(self, track_id: int) -> TrackRow:
        """The stored row of one track (path, title, duration_s, tags…)."""
        return self.reader.track(track_id)

    def tracks(self, limit: int | None = None, offset: int = 0) -> list[TrackRow]:
        """Stored track rows in id order, ``limit`` at most."""
        return self.reader.tracks(limit, offset)

    def track_vectors(self) -> tuple[np.ndarray, np.ndarray]:
        """``(ids (N,), vectors (N, DIM) float32)`` of every track, in id order."""
        return self.reader.track_vectors()

    def track_vector(self, track_id: int) -> np.ndarray:
        """The stored ``(DIM,)`` vector of one track (:class:`LibraryError` when unknown)."""
        return self.reader.track_vector(track_id)

    def track_segments(self, track_id: int) -> tuple[np.ndarray, np.ndarray]:
        """``(times (S, 2), vectors (S, DIM))`` of one track's segments, in time order."""
        return self.reader.track_segments(track_id)

    def counts(self) -> dict[str, float]:
        """``{"tracks", "segments", "hours"}``."""
        return self.reader.counts()

    def content_key(self) -> tuple:
        """Changes with every change of the library's content (model, counts, hours, highest
        track id, write generation): a cache key for what is derived from the library."""
        return self.reader.content_key()

    def info(self) -> dict:
        """Counts, hours, index kinds, model and memory per track."""
        return self.reader.info()

    def audio_segment(self, track_id: int, start_s: float, duration_s: float = 10.0) -> np.ndarray:
        """Decode part of a library track (``(T,)`` float32 at the model rate), e.g. to play."""
        return self.reader.audio_segment(track_id, start_s, duration_s)


__all__ = ["LibraryQueries"]
