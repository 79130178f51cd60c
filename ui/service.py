"""A thread-safe facade over one library for the app: searches, tags, stats and adding folders.

Gradio runs handlers on a thread pool, while :class:`lyrebird.index.Library` is one instance
per thread. The service keeps one read-only ``Library`` per thread (each picks up new FAISS
files on its own), one shared model (its calls serialised by a lock: tokenizers and small
CPU models gain nothing from concurrent calls), and one writer at a time for "add folder".
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from lyrebird.encoders import AudioError, audio_info
from lyrebird.index import AddReport, Library, LibraryError, LibraryModel, load_model
from lyrebird.index.model import default_tag_vocabulary, query_only
from lyrebird.mulan.vocabulary import DEFAULT_TEMPLATE, check_template

from .config import MAX_TRACK_ID, Limits
from .locked_model import LockedModel, WriterModel
from .snapshot import Snapshot, build_snapshot, library_key
from .tag_chips import ChipRule, TagCalibration, head_calibration, uncalibrated

log = logging.getLogger("lyrebird.ui")


class UserError(ValueError):
    """A request the app refuses, with a message meant for the user."""


class LibraryService:
    """Everything the app asks of a library, safe to call from many threads."""

    def __init__(self, path: str | os.PathLike, model: str | LibraryModel | None = None,
                 limits: Limits = Limits(), allow_add: bool = True, runtime: str = "torch"):
        """``model``: a spec or a model (default: the one the library names), run on
        ``runtime`` when given as a spec (:mod:`lyrebird.mulan.runtimes`; onnxruntime takes as
        many threads as torch: one under :func:`lyrebird.ui.serve`). A query-only model (the
        int8 text tower) turns ``allow_add`` off."""
        self.path = Path(path)
        with Library.open(self.path, readonly=True) as lib:  # fails early on a bad path
            spec, fp = lib.meta["model"], lib.meta["fingerprint"]
        if model is not None and not isinstance(model, str) and runtime != "torch":
            raise ValueError("LibraryService: give a model object or a runtime, not both")
        if model is None or isinstance(model, str):
            model = load_model(model or spec, runtime=runtime, fingerprint=None if model else fp)
        self.model = LockedModel(model)
        self.limits, self.allow_add = limits, allow_add and not query_only(model)
        self._local = threading.local()
        self._write_lock = threading.Lock()
        self._snap: Snapshot | None = None
        self._snap_lock = threading.Lock()
        self._prompts: tuple[list[str], np.ndarray] | bool | None = False  # False: not yet
        with Library.open(self.path, model=self.model, readonly=True):  # checks the fingerprint
            pass

    # ------------------------------------------------------------------ plumbing
    def warm_up(self) -> None:
        """Answer one search now (text side, tag space, snapshot and chips load), so the first
        user does not wait for them (about a second on 2 cores) and a burst of first users does
        not queue behind them."""
        try:
            if self.model.has_text:
                self.search("music", 1)
            else:
                self.snapshot()
        except (UserError, LibraryError, ValueError, OSError) as e:
            log.warning("warm-up of '%s' failed (the first query will load instead): %s",
                        self.path, e)

    def _lib(self) -> Library:
        lib = getattr(self._local, "lib", None)
        if lib is None:
            lib = self._local.lib = Library.open(self.path, model=self.model, readonly=True)
        return lib

    def check_upload(self, path: str | os.PathLike | None, name: str | None = None) -> Path:
        """Validate an uploaded audio file against the limits; raises :class:`UserError`.

        Messages name the file as the user knows it (``name``, default: the file's own name),
        never the server's temporary path."""
        if not path:
            raise UserError("Upload an audio file first.")
        p = Path(path)
        shown = name or p.name
        if not p.is_file():
            raise UserError(f"'{shown}' was not received; upload it again.")
        size = p.stat().st_size
        if size > self.limits.max_upload_bytes:
            raise UserError(f"'{shown}' is {size / 2**20:.1f} MiB; the limit is "
                            f"{self.limits.max_upload_bytes / 2**20:.0f} MiB.")
        try:
            dur = audio_info(p).duration_s
        except AudioError as e:
            why = str(e).replace(f"'{p}': ", "").replace(str(p), shown)
            raise UserError(f"'{shown}' is not audio this app can read: {why}") from None
        if dur > self.limits.max_upload_s:
            raise UserError(f"'{shown}' lasts {dur:.0f} s; the limit is "
                            f"{self.limits.max_upload_s:.0f} s.")
        return p

    def _k(self, k: float | int | str) -> int:
        """``k`` (the number of results) in ``[1, limits.max_k]``."""
        return whole(k, "k", 1, self.limits.max_k)

    @staticmethod
    def track_id(value: float | int | str) -> int:
        """A track id as an int; :class:`UserError` ("No track with id …") for anything that
        cannot be one (negative, zero, fractional, beyond SQLite's integers)."""
        try:
            v = int(value) if not isinstance(value, float) or value.is_integer() else -1
        except (TypeError, ValueError, OverflowError):
            v = -1
        if not 1 <= v <= MAX_TRACK_ID:
            raise UserError(f"No track with id {value} in this library.")
        return v

    def tag_list(self, tags: list[str] | None) -> list[str] | None:
        """Tags for one tagging request within ``limits`` (count, characters each); ``None``
        for the model's own vocabulary."""
        wanted = [t.strip() for t in (tags or []) if t and t.strip()]
        if len(wanted) > self.limits.max_tags:
            raise UserError(f"{len(wanted)} tags given; at most {self.limits.max_tags} per "
                            "request.")
        long = [t for t in wanted if len(t) > self.limits.max_tag_chars]
        if long:
            raise UserError(f"tag '{long[0][:40]}…' has {len(long[0])} characters; at most "
                            f"{self.limits.max_tag_chars}.")
        return wanted or None

    def query_text(self, query: str | None, empty: str = "Type a query, e.g. 'calm piano'.") -> str:
        """A text query, stripped, within ``limits.max_query_chars``; ``empty`` is the message
        for a blank one."""
        if not query or not query.strip():
            raise UserError(empty)
        q = query.strip()
        if len(q) > self.limits.max_query_chars:
            raise UserError(f"The query has {len(q):,} characters; at most "
                            f"{self.limits.max_query_chars}.")
        return q

    # ------------------------------------------------------------------ snapshot
    def _tag_prompts(self) -> tuple[list[str], np.ndarray] | None:
        if self._prompts is False:
            try:
                tags = default_tag_vocabulary(self.model) if self.model.has_text else None
            except ValueError:  # a model without a vocabulary: no chips
                tags = None
            self._prompts = None if not tags else (
                tags, self.model.embed_text([DEFAULT_TEMPLATE.format(t) for t in tags]))
        return self._prompts

    def _tag_scores(self, lib: Library, ids: np.ndarray, vecs: np.ndarray
                    ) -> tuple[list[str], np.ndarray] | None:
        """``(tags, (N, T) scores)`` of the tracks ``ids``: the distilled tag probabilities
        when the model has a tag head, else the zero-shot cosines of the default vocabulary."""
        space = lib.tag_space() if self.model.tag_head is not None else None
        if space is not None:
            at = np.searchsorted(space.ids, ids)
            return list(space.head.names), space.probs[np.minimum(at, len(space.ids) - 1)]
        prompts = self._tag_prompts()
        if prompts is None:
            return None
        tags, pvecs = prompts
        return tags, (vecs @ pvecs.T if len(ids) else np.zeros((0, len(tags)), np.float32))

    def _chip_rule(self, tags: list[str], scores: np.ndarray) -> ChipRule:
        head = self.model.tag_head
        if head is not None and tags == list(head.names):
            return ChipRule(tags, head_calibration(head, self.model.tag_student))
        fp = self.model.fingerprint()
        cal = TagCalibration.load(self.path, fp, DEFAULT_TEMPLATE)
        return ChipRule(tags, cal or uncalibrated(tags, scores, fp, DEFAULT_TEMPLATE))

    def snapshot(self) -> Snapshot:
        """The library as the app shows it (rows, vectors, chips, map), rebuilt on change."""
        lib = self._lib()
        key = library_key(lib)
        snap = self._snap
        if snap is not None and snap.key == key:
            return snap
        with self._snap_lock:
            if self._snap is None or self._snap.key != key:
                self._snap = build_snapshot(lib, key, self._tag_scores, self._chip_rule)
            return self._snap

    def _results(self, hits: list) -> list[dict]:
        """Hits (already one per work when asked: the library groups them) as dicts with
        their chips and ``licence`` (a file tag, or None)."""
        snap = self.snapshot()
        out = []
        for h in hits:
            d = h.to_dict()
            d["chips"], d["licence"] = snap.chips_of(h.track_id), snap.licence(h.track_id)
            out.append(d)
        return out

    # ------------------------------------------------------------------ queries
    def search(self, query: str, k: int = 10, group: bool = True) -> list[dict]:
        """Text → the ``k`` best tracks, as ``Hit.to_dict()`` rows (segment bounds in seconds)
        with ``chips`` and, with ``group``, one row per work (``more_of_work``: the others)."""
        query = self.query_text(query)
        if not self.model.has_text:
            raise UserError("This library's model has no text tower; use similar-track search.")
        k = self._k(k)
        return self._results(self._lib().search(query, k, group=group))

    def similar(self, item: int | str | os.PathLike, k: int = 10,
                group: bool = True) -> list[dict]:
        """A library track id or an uploaded file → the ``k`` nearest tracks (as :meth:`search`;
        with ``group``, the other parts of a library track's own work are left out too)."""
        if isinstance(item, (int, float)) and not isinstance(item, bool):
            item = self.track_id(item)
            self.track(item)
        else:
            item = self.check_upload(item)
        k = self._k(k)
        return self._results(self._lib().similar(item, k, group=group))

    def playlist(self, query: str, n: int = 20, lam: float = 0.7,
                 max_per_artist: int | None = 2):
        """A diverse ``n``-track playlist for a description ("calm piano into strings");
        :meth:`lyrebird.index.Library.playlist` (one track per work, MMR with ``lam``)."""
        query = self.query_text(query, "Describe the playlist, e.g. 'calm piano into strings'.")
        if not self.model.has_text:
            raise UserError("This library's model has no text tower, so it cannot make playlists.")
        n = whole(n, "A playlist's number of tracks (2 to 100 tracks)", 2, 100)
        try:
            return self._lib().playlist(query, n=int(n), lam=float(lam),
                                        max_per_artist=max_per_artist or None)
        except (LibraryError, ValueError) as e:
            raise UserError(str(e)) from None

    def title(self, track_id: int) -> str:
        """A track's title (or file name) for messages."""
        return self.snapshot().title(track_id)

    def tag_audio(self, path: str | os.PathLike, tags: list[str] | None = None,
                  template: str = DEFAULT_TEMPLATE) -> dict[str, float]:
        """Tag scores of an uploaded file, best first: with no ``tags``, the distilled tag
        probabilities when the model has a tag head (else zero-shot cosines of the MTT top-50);
        with ``tags``, zero-shot cosines against ``template``."""
        try:
            template = check_template(template)
        except ValueError as e:
            raise UserError(str(e)) from None
        tags = self.tag_list(tags)
        if not self.model.has_text:
            raise UserError("This library's model has no text tower, so it cannot tag.")
        lib = self._lib()
        emb = lib.audio_embedded(self.check_upload(path))
        if tags is None and self.model.tag_head is not None:
            return lib.tag_probs(emb.seg_vectors, emb.tags)
        return lib.tag_vector(emb.vector, tags, template)

    def track(self, track_id: int) -> dict:
        """One track's stored row (path, title, duration in seconds, tags)."""
        try:
            row = self._lib().track(self.track_id(track_id))
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
            raise UserError("This server was started read-only (or on the query-only int8 "
                            "runtime); adding is disabled.")
        if not self._write_lock.acquire(blocking=False):
            raise UserError("Another folder is being added; try again when it has finished.")
        try:
            with Library.open(self.path, model=WriterModel(self.model)) as lib:
                yield lib
        finally:
            self._write_lock.release()

    def add_folder(self, folder: str, progress: Callable[[float, str], None] | None = None,
                   batch: int = 8) -> AddReport:
        """Add every audio file under ``folder`` (recursive), ``batch`` files per commit, with
        one :meth:`lyrebird.index.Library.add` (which remembers the folder for ``sync``).

        ``progress(fraction, message)`` is called as files are settled (committed, skipped as
        duplicates or failed). Bad files are reported in ``AddReport.failed`` with a reason and
        the rest goes on.
        """
        p = Path(os.path.expanduser(folder.strip())) if folder and folder.strip() else None
        if p is None or not p.is_dir():
            raise UserError(f"'{folder}' is not a folder on the server.")

        def on_progress(done: int, total: int) -> None:
            if progress:
                progress(min(1.0, done / total), f"{done}/{total} files")

        with self._writer() as lib:
            return lib.add([p], batch_size=batch, on_progress=on_progress)

def whole(value: float | int | str, name: str, lo: int, hi: int) -> int:
    """``value`` as an int in ``[lo, hi]``; :class:`UserError` naming ``name`` otherwise (NaN,
    ∞, fractions, text and huge numbers included)."""
    try:
        v = float(value)
    except (TypeError, ValueError, OverflowError):
        raise UserError(f"{name} must be between {lo} and {hi} (a whole number), "
                        f"got {value!r}.") from None
    if not (v == v and lo <= v <= hi and v == int(v)):
        raise UserError(f"{name} must be between {lo} and {hi} (a whole number), got {value}.")
    return int(v)


def _label(path: str, title: str | None, artist: str | None) -> str:
    name = title or Path(path).stem
    return f"{name} — {artist}" if artist else name
