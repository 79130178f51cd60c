"""The model as the app's threads share it: calls take turns (:class:`LockedModel`), and the
writer of "add folder" embeds with its own instance so searches never wait for it
(:class:`WriterModel`)."""

from __future__ import annotations

import threading

import numpy as np

from lyrebird.index import LibraryModel
from lyrebird.index.model import query_only, text_key


class LockedModel:
    """Wraps a :class:`LibraryModel` so that concurrent handler threads take turns."""

    def __init__(self, model: LibraryModel):
        self._m, self._lock = model, threading.Lock()
        self.name, self.DIM = model.name, model.DIM

    @property
    def SAMPLE_RATE(self) -> int:
        """Hz of the audio ``embed_windows`` takes. Read on first use, under the lock: for a
        MuLan it loads the audio tower, which a text-only caller (a CLI search) never needs."""
        with self._lock:
            return self._m.SAMPLE_RATE

    def fingerprint(self) -> str:
        return self._m.fingerprint()

    def text_fingerprint(self) -> str:
        """The wrapped model's text-vector identity (:func:`lyrebird.index.model.text_key`)."""
        return text_key(self._m)

    @property
    def query_only(self) -> bool:
        """Whether the wrapped model only searches (an int8 text tower)."""
        return query_only(self._m)

    @property
    def tag_head(self):
        """The wrapped model's distilled tag head, or ``None`` (it only reads vectors: no lock)."""
        return getattr(self._m, "tag_head", None)

    @property
    def tag_student(self):
        """The wrapped model's tag student, or ``None``: read for its names and calibrated
        thresholds (the chips); running it goes through the lock (:meth:`tag_segments`)."""
        return getattr(self._m, "tag_student", None)

    @property
    def has_text(self) -> bool:
        return self._m.has_text

    @property
    def default_tags(self) -> list[str] | None:
        """The wrapped model's tag vocabulary (MuLan: MTT top-50), so that tagging with no tags
        given works through the lock as it does on the bare model."""
        return getattr(self._m, "default_tags", None)

    def embed_windows(self, audio: np.ndarray, valid: np.ndarray) -> np.ndarray:
        """``(N, L)`` windows at ``SAMPLE_RATE`` Hz with ``valid (N,)`` real samples →
        ``(N, DIM)`` unit vectors."""
        with self._lock:
            return self._m.embed_windows(audio, valid)

    def embed_text(self, texts: list[str]) -> np.ndarray:
        """``texts`` → ``(N, DIM)`` unit vectors."""
        with self._lock:
            return self._m.embed_text(texts)

    def tag_segments(self, audio: np.ndarray, valid: np.ndarray) -> np.ndarray | None:
        """The wrapped model's tag-student probabilities ``(N, T)`` of ``(N, L)`` windows, or
        ``None`` without a student (:meth:`lyrebird.index.model.MuLanModel.tag_segments`)."""
        fn = getattr(self._m, "tag_segments", None)
        if fn is None:
            return None
        with self._lock:
            return fn(audio, valid)


class WriterModel(LockedModel):
    """The model as "add folder" uses it: the same weights as the service's
    :class:`LockedModel`, but audio windows run without its lock. The audio tower only reads
    its weights (no tokenizer, no state), so the ingest's worker threads embed side by side
    and a search never waits behind a batch of windows; text (zero-shot tags at each commit,
    mostly cached) still takes turns with the searches."""

    def __init__(self, locked: LockedModel):
        self._m, self._lock = locked._m, locked._lock
        self.name, self.DIM = locked.name, locked.DIM
        self._rate = locked.SAMPLE_RATE  # loads the audio tower once, under the lock

    @property
    def SAMPLE_RATE(self) -> int:
        """Hz of the audio ``embed_windows`` takes (read once, before the ingest's threads)."""
        return self._rate

    def embed_windows(self, audio: np.ndarray, valid: np.ndarray) -> np.ndarray:
        """``(N, L)`` windows at ``SAMPLE_RATE`` Hz → ``(N, DIM)`` unit vectors (no lock,
        unless the model says it is not thread-safe)."""
        if not self.thread_safe:
            with self._lock:
                return self._m.embed_windows(audio, valid)
        return self._m.embed_windows(audio, valid)

    def tag_segments(self, audio: np.ndarray, valid: np.ndarray) -> np.ndarray | None:
        """As :meth:`LockedModel.tag_segments`, without the lock when the model is thread-safe
        (the student, like the audio tower, only reads its weights)."""
        fn = getattr(self._m, "tag_segments", None)
        if fn is None:
            return None
        if not self.thread_safe:
            with self._lock:
                return fn(audio, valid)
        return fn(audio, valid)

    @property
    def thread_safe(self) -> bool:
        """The wrapped model's ``thread_safe`` (default true; a plug-in may say false)."""
        return bool(getattr(self._m, "thread_safe", True))


__all__ = ["LockedModel", "WriterModel"]
