"""The single-writer lock of a library folder (``LOCK``, a :mod:`filelock` lock file).

One writer at a time holds it; readers never take it. :func:`held` waits for it (and says who
to blame when it cannot have it); :func:`if_free` takes it only when nobody holds it now.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock, Timeout

from .types import LibraryError

LOCK = "LOCK"


@contextmanager
def held(folder: Path, timeout_s: float = 10.0) -> Iterator[None]:
    """``LOCK`` for the block; :class:`LibraryError` when another process keeps it ``timeout_s``."""
    lock = FileLock(str(Path(folder) / LOCK), timeout=timeout_s)
    try:
        lock.acquire()
    except Timeout:
        raise LibraryError(f"'{folder}': another process is writing (LOCK held)") from None
    try:
        yield
    finally:
        lock.release()


@contextmanager
def if_free(folder: Path) -> Iterator[bool]:
    """``LOCK`` for the block if no other writer holds it now (no waiting); yields whether."""
    lock = FileLock(str(Path(folder) / LOCK), timeout=0)
    try:
        lock.acquire()
    except Timeout:
        yield False
        return
    try:
        yield True
    finally:
        lock.release()
