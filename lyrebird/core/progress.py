"""Progress reporting: a bar on a TTY, plain log lines otherwise (CI logs, pipes, files)."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")
log = logging.getLogger("lyrebird")


def progress(items: Iterable[T], total: int | None = None, desc: str = "",
             every_s: float = 10.0) -> Iterator[T]:
    """Yield ``items`` while reporting progress on stderr.

    On a TTY this is a tqdm bar; otherwise one ``desc: i/total`` log line at most every
    ``every_s`` seconds plus a final line, so long jobs stay readable in CI logs.
    """
    if total is None and hasattr(items, "__len__"):
        total = len(items)  # type: ignore[arg-type]
    if sys.stderr.isatty():
        from tqdm import tqdm

        yield from tqdm(items, total=total, desc=desc, file=sys.stderr)
        return
    last = start = time.monotonic()
    i = 0
    for i, item in enumerate(items, 1):
        yield item
        now = time.monotonic()
        if now - last >= every_s:
            last = now
            of = f"/{total}" if total else ""
            print(f"{desc}: {i}{of} ({now - start:.0f} s)", file=sys.stderr, flush=True)
    of = f"/{total}" if total else ""
    print(f"{desc}: done {i}{of} in {time.monotonic() - start:.1f} s", file=sys.stderr, flush=True)
