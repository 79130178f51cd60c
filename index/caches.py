"""Process-wide caches and batching for the read side: text vectors, segment arrays, and
concurrent text-tower calls coalesced into batches.

A server answers each request on a thread of its own, each thread holding its own read-only
library; these objects are what they share. Every one is thread-safe.
"""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict

import numpy as np


class TextCache:
    """Text vectors shared by every handle of a process, keyed by model fingerprint and text,
    the ``max_items`` most recently used kept (2 KiB each at d = 512). Thread-safe: a server's
    threads each hold their own library, and a query typed again skips the text tower."""

    def __init__(self, max_items: int = 10_000):
        self.max_items = max_items
        self._d: OrderedDict[tuple[str, str], np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[str, str]) -> np.ndarray | None:
        with self._lock:
            v = self._d.get(key)
            if v is not None:
                self._d.move_to_end(key)
            return v

    def put(self, key: tuple[str, str], v: np.ndarray) -> None:
        with self._lock:
            self._d[key] = v
            self._d.move_to_end(key)
            while len(self._d) > self.max_items:
                self._d.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._d.clear()


TEXT_CACHE = TextCache()


class _Slot:
    __slots__ = ("err", "event", "lead", "out", "texts")

    def __init__(self, texts: list[str]):
        self.texts, self.event, self.lead = texts, threading.Event(), False
        self.out: np.ndarray | None = None
        self.err: BaseException | None = None


class TextBatcher:
    """Concurrent ``embed_text`` calls on one model, run as batches.

    A caller finding the model idle runs one batch — its texts and whatever other callers
    queued meanwhile, ``max_batch`` callers at most — then hands the turn to the next waiting
    caller. Twenty requests arriving together cost one forward pass of twenty short texts
    (weights read once) instead of twenty passes one after another.
    """

    def __init__(self, max_batch: int = 32):
        self.max_batch = max_batch
        self._lock = threading.Lock()
        self._pending: list[_Slot] = []
        self._busy = False

    def embed(self, model, texts: list[str]) -> np.ndarray:
        slot = _Slot(list(texts))
        with self._lock:
            self._pending.append(slot)
            if not self._busy:
                self._busy = slot.lead = True
        if not slot.lead:
            slot.event.wait()  # answered, or given the turn
        if slot.lead:
            self._run_batch(model, slot)
        if slot.err is not None:
            raise slot.err
        return slot.out

    def _run_batch(self, model, me: _Slot) -> None:
        with self._lock:
            batch = [me, *[s for s in self._pending if s is not me][: self.max_batch - 1]]
            self._pending = [s for s in self._pending if s not in batch]
        try:
            uniq = list(dict.fromkeys(t for s in batch for t in s.texts))
            vecs = dict(zip(uniq, np.asarray(model.embed_text(uniq), np.float32), strict=True))
            for s in batch:
                s.out = np.stack([vecs[t] for t in s.texts])
        except BaseException as e:  # every caller of the batch gets the error
            for s in batch:
                s.err = e
        with self._lock:
            if self._pending:
                nxt = self._pending[0]
                nxt.lead = True
                nxt.event.set()
            else:
                self._busy = False
        for s in batch:
            if s is not me:
                s.event.set()


_BATCHERS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_BATCHERS_LOCK = threading.Lock()


def embed_text_batched(model, texts: list[str]) -> np.ndarray:
    """``model.embed_text(texts)``, batched with concurrent calls on the same model object
    (:class:`TextBatcher`)."""
    try:
        with _BATCHERS_LOCK:
            b = _BATCHERS.get(model)
            if b is None:
                b = _BATCHERS[model] = TextBatcher()
    except TypeError:  # not weakly referenceable: no batching
        return np.asarray(model.embed_text(texts), np.float32)
    return b.embed(model, texts)


class SegmentCache:
    """Per-track segment arrays ``(times, vectors)`` shared by the readers of a process,
    least recently used dropped past ``max_bytes``. Keys hold the library, the model
    fingerprint, the track id and its content hash, so a changed track is a new key."""

    def __init__(self, max_bytes: int = 256 * 2**20):
        self.max_bytes, self.nbytes = max_bytes, 0
        self._d: OrderedDict[tuple, tuple[np.ndarray, np.ndarray]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple):
        with self._lock:
            v = self._d.get(key)
            if v is not None:
                self._d.move_to_end(key)
            return v

    def put(self, key: tuple, v: tuple[np.ndarray, np.ndarray]) -> None:
        for a in v:
            a.setflags(write=False)
        with self._lock:
            if key in self._d:
                return
            self._d[key] = v
            self.nbytes += sum(a.nbytes for a in v)
            while self.nbytes > self.max_bytes and len(self._d) > 1:
                _, old = self._d.popitem(last=False)
                self.nbytes -= sum(a.nbytes for a in old)
