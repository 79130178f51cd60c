"""A thread-safe facade over one library for the app: searches, tags, stats and adding folders.

Gradio runs handlers on a thread pool, while :class:`lyrebird.index.Library` is one instance
per thread. The service keeps one read-only ``Library`` per thread (each picks up new FAISS
files on its own), one shared model (its calls serialised by a lock: tokenizers and small
CPU models gain nothing from concurrent calls), and one writer at a time for "add folder".
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from lyrebird.encoders import AudioError, audio_info
from lyrebird.index import AddReport, Library, LibraryError, LibraryModel, load_model
from lyrebird.index.ingest import discover
from lyrebird.mulan.vocabulary import DEFAULT_TEMPLATE

from .config import Limits


class UserError(ValueError):
    """A request the app refuses, with a message meant for the user."""


class LockedModel:
    """Wraps a :class:`LibraryModel` so that concurrent handler threads take turns."""

    def __init__(self, model: LibraryModel):
        self._m, self._lock = model, threading.Lock()
        self.name, self.SAMPLE_RATE, self.DIM = model.name, model.SAMPLE_RATE, model.DIM

    def fingerprint(self) -> str:
        return self._m.fingerprint()

    @property
    def has_text(self) -> bool:
        return self._m.has_text

    def embed_windows(self, audio: np.ndarray, valid: np.ndarray) -> np.ndarray:
        """``(N, L)`` windows at ``SAMPLE_RATE`` Hz with ``valid (N,)`` real samples →
        ``(N, DIM)`` unit vectors."""
        with self._lock:
            return self._m.embed_windows(audio, valid)

    def embed_text(self, texts: list[str]) -> np.ndarray:
        """``texts`` → ``(N, DIM)`` unit vectors."""
        with self._lock:
            return self._m.embed_text(texts)


class LibraryService:
    """Everything the app asks of a library, safe to call from many threads."""

    def __init__(self, path: str | os.PathLike, model: LibraryModel | None = None,
                 limits: Limits = Limits(), allow_add: bool = True):
        self.path = Path(path)
        with Library.open(self.path, readonly=True) as lib:  # fails early on a bad path
            spec = lib.meta["model"]
        self.model = LockedModel(model if model is not None else load_model(spec))
        self.limits, self.allow_add = limits, allow_add
        self._local = threading.local()
        self._write_lock = threading.Lock()
        with Library.open(self.path, model=self.model, readonly=True):  # checks the fingerprint
            pass

    # ------------------------------------------------------------------ plumbing
    def _lib(self) -> Library:
        lib = getattr(self._local, "lib", None)
        if lib is None:
            lib = self._local.lib = Library.open(self.path, model=self.model, readonly=True)
        return lib

    def check_upload(self, path: str | os.PathLike | None) -> Path:
        """Validate an uploaded audio file against the limits; raises :class:`UserError`."""
        if not path:
            raise UserError("Upload an audio file first.")
        p = Path(path)
        size = p.stat().st_size
        if size > self.limits.max_upload_bytes:
            raise UserError(f"'{p.name}' is {size / 2**20:.1f} MiB; the limit is "
                            f"{self.limits.max_upload_bytes / 2**20:.0f} MiB.")
        try:
            dur = audio_info(p).duration_s
        except AudioError as e:
            raise UserError(f"'{p.name}' is not audio this app can read: {e}") from e
        if dur > self.limits.max_upload_s:
            raise UserError(f"'{p.name}' lasts {dur:.0f} s; the limit is "
                            f"{self.limits.max_upload_s:.0f} s.")
        return p

    @staticmethod
    def _k(k: float | int) -> int:
        k = int(k)
        if not 1 <= k <= 100:
            raise UserError(f"k must be between 1 and 100, got {k}.")
        return k

    # ------------------------------------------------------------------ queries
    def search(self, query: str, k: int = 10) -> list[dict]:
        """Text → the ``k`` best tracks, as ``Hit.to_dict()`` rows (segment bounds in seconds)."""
        if not query or not query.strip():
            raise UserError("Type a query, e.g. 'calm piano'.")
        if not self.model.has_text:
            raise UserError("This library's model has no text tower; use similar-track search.")
        return [h.to_dict() for h in self._lib().search(query.strip(), self._k(k))]

    def similar(self, item: int | str | os.PathLike, k: int = 10) -> list[dict]:
        """A library track id or an uploaded file → the ``k`` nearest tracks."""
        if isinstance(item, int):
            self.track(item)
        else:
            item = self.check_upload(item)
        return [h.to_dict() for h in self._lib().similar(item, self._k(k))]

    def tag_audio(self, path: str | os.PathLike, tags: list[str] | None = None,
                  template: str = DEFAULT_TEMPLATE) -> dict[str, float]:
        """Zero-shot tag scores (cosine, best first) of an uploaded file; MTT top-50 by default."""
        if "{}" not in template:
            raise UserError("The prompt template needs a {} where the tag goes, e.g. 'A {} track'.")
        if not self.model.has_text:
            raise UserError("This library's model has no text tower, so it cannot tag.")
        lib = self._lib()
        vec = lib.audio_vector(self.check_upload(path))
        return lib.tag_vector(vec, [t for t in (tags or []) if t] or None, template)

    def track(self, track_id: int) -> dict:
        """One track's stored row (path, title, duration in seconds, tags)."""
        try:
            row = self._lib().track(int(track_id))
        except LibraryError:
            raise UserError(f"No track with id {track_id} in this library.") from None
        return {"track_id": row.id, "path": row.path, "title": row.title, "artist": row.artist,
                "duration_s": row.duration_s, "tags": row.zs_tags}

    def track_file(self, track_id: int) -> Path | None:
        """The audio file of a library track, or ``None``: the only files the app serves."""
        try:
            p = Path(self.track(track_id)["path"])
        except UserError:
            return None
        return p if p.is_file() else None

    def tracks(self, limit: int = 2000) -> list[tuple[str, int]]:
        """``(label, track id)`` choices for a picker, at most ``limit``."""
        return [(f"{_label(r.path, r.title, r.artist)}  [#{r.id}]", r.id)
                for r in self._lib().tracks(limit)]

    def stats(self) -> dict:
        """``Library.info()``: tracks, segments, hours, index kinds, model, memory per track."""
        return self._lib().info()

    # ------------------------------------------------------------------ writing
    @contextmanager
    def _writer(self) -> Iterator[Library]:
        if not self.allow_add:
            raise UserError("This server was started read-only; adding is disabled.")
        if not self._write_lock.acquire(blocking=False):
            raise UserError("Another folder is being added; try again when it has finished.")
        try:
            with Library.open(self.path, model=self.model) as lib:
                yield lib
        finally:
            self._write_lock.release()

    def add_folder(self, folder: str, progress: Callable[[float, str], None] | None = None,
                   batch: int = 8) -> AddReport:
        """Add every audio file under ``folder`` (recursive), ``batch`` files per commit.

        ``progress(fraction, message)`` is called after each batch. Bad files are reported in
        ``AddReport.failed`` with a reason and the rest goes on.
        """
        p = Path(os.path.expanduser(folder.strip())) if folder and folder.strip() else None
        if p is None or not p.is_dir():
            raise UserError(f"'{folder}' is not a folder on the server.")
        files, missing = discover([p])
        total = AddReport(failed=list(missing))
        with self._writer() as lib:
            for i in range(0, len(files), batch):
                rep = lib.add(files[i:i + batch])
                total.added += rep.added
                total.duplicates += rep.duplicates
                total.failed += rep.failed
                if progress:
                    progress(min(1.0, (i + batch) / len(files)),
                             f"{min(i + batch, len(files))}/{len(files)} files")
        return total


def _label(path: str, title: str | None, artist: str | None) -> str:
    name = title or Path(path).stem
    return f"{name} — {artist}" if artist else name
