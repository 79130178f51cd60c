"""Ingestion on every core: files decoded and embedded on worker threads, committed in order.

``Library.add`` hands its files to :func:`ordered_map`: ``workers`` threads each take a whole
file (decode → resample → window → ``model.embed_windows``, streamed, so memory stays bounded
by ``batch`` windows per worker whatever the file length) while the calling thread hashes the
next files, checks them against the database and commits finished ones in their original order.
At most ``ahead`` files are in flight, so finished-but-uncommitted results are bounded too.

The threads share one model. PyTorch's heavy kernels release the GIL, so two threads each
running one-threaded kernels keep two cores busy; :func:`torch_threads` pins the intra-op pool
to one thread for the duration (two threads each spawning a team of two would oversubscribe a
two-core machine, and on a busy machine a team waiting for a descheduled partner is what made
the old path slow). That pin is set here, for the ingest, whatever the process was pinned to
before (``lyrebird serve`` pins one thread for its queries): the parallelism comes from the
worker threads, not from the intra-op pool, so an "add folder" in the app uses both cores too.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

from lyrebird.core.fingerprint import content_hash

from . import store

T = TypeVar("T")
R = TypeVar("R")

_PIN = threading.Lock()
_pinned = 0  # ingests running with the pin on (they may overlap in a server process)
_saved = 0


def default_workers() -> int:
    """Worker threads for ingestion: the cores this process may run on (at least 1)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


@contextmanager
def torch_threads(n: int = 1) -> Iterator[None]:
    """Run the block with PyTorch's intra-op pool at ``n`` threads, restoring the previous
    setting when the last overlapping block ends (safe for concurrent ingests in one process)."""
    import torch

    global _pinned, _saved
    with _PIN:
        if _pinned == 0:
            _saved = torch.get_num_threads()
            if _saved != n:
                torch.set_num_threads(n)
        _pinned += 1
    try:
        yield
    finally:
        with _PIN:
            _pinned -= 1
            if _pinned == 0 and torch.get_num_threads() != _saved:
                torch.set_num_threads(_saved)


def ordered_map(fn: Callable[[T], R], items: Iterable[tuple[T, bool]], workers: int,
                ahead: int | None = None) -> Iterator[tuple[T, Callable[[], R]]]:
    """Yield ``(item, result)`` for each ``(item, wanted)`` in order, where ``result()``
    returns ``fn(item)`` or raises its exception.

    Wanted items run on ``workers`` threads, at most ``ahead`` (default ``2 * workers``) items
    ahead of the consumer; the rest (``wanted`` false: duplicates, failures) are yielded in
    place with ``result`` calling ``fn`` lazily, as does everything when ``workers`` is 0
    (the serial path). ``items`` is advanced on the consumer's thread, so it may use
    thread-bound resources such as a SQLite connection. Closing the generator early cancels
    the files not started and waits for those running.
    """
    if workers <= 0:
        for it, _ in items:
            yield it, lambda it=it: fn(it)
        return
    ahead = max(workers, ahead if ahead is not None else 2 * workers)
    window: deque[tuple[T, Future | None]] = deque()
    ex = ThreadPoolExecutor(workers, thread_name_prefix="lyrebird-ingest")
    try:
        for it, wanted in items:
            window.append((it, ex.submit(fn, it) if wanted else None))
            while sum(f is not None for _, f in window) > ahead or len(window) > 4 * ahead:
                yield _pop(window, fn)
        while window:
            yield _pop(window, fn)
    finally:
        ex.shutdown(wait=True, cancel_futures=True)


def hashed_files(con: sqlite3.Connection, files: Iterable[Path]
                 ) -> Iterator[tuple[tuple[Path, str | None, str | None], bool]]:
    """``((path, content hash, None), wanted)`` per file, ``wanted`` when its content is neither
    in the library (``con``) nor earlier in ``files``; ``((path, None, reason), False)`` for a
    file that cannot be read. The items :func:`ordered_map` takes in ``Library.add``."""
    seen: set[str] = set()
    for f in files:
        try:
            h = content_hash(f)
        except OSError as e:
            yield (f, None, f"unreadable: {e}"), False
            continue
        new = h not in seen and not store.has_hash(con, h)
        seen.add(h)
        yield (f, h, None), new


def _pop(window: deque, fn: Callable) -> tuple:
    it, fut = window.popleft()
    if fut is None:
        return it, lambda it=it: fn(it)
    return it, fut.result
