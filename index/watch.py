"""Keep syncing a library while files change: ``lyrebird index sync LIB --watch``.

:func:`watch` runs :func:`lyrebird.index.sync.sync` once, then again after each burst of
changes under the folders, until ``stop`` is set. Changes are noticed with the ``watchdog``
package (inotify and friends) when it is installed, else by polling the folders' file sizes
and modification times every ``interval_s``. A burst ends when nothing has changed for
``settle_s`` (a file being copied is not embedded half-written).

A folder that goes offline (an unplugged drive: missing, unreadable or emptied) is reported by
the sync that notices it (``SyncReport.offline``; its tracks are kept) and logged; the folders
are checked every ``interval_s``, and when one comes back it is watched again and synced.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

from .sync import root_status, roots, sync
from .types import SyncReport

log = logging.getLogger("lyrebird.index")


def snapshot(folders: list[str]) -> dict[str, tuple[int, int]]:
    """``path → (size, mtime_ns)`` of every file under ``folders`` (for polling)."""
    out = {}
    for folder in folders:
        for dirpath, _, names in os.walk(folder):
            for n in names:
                p = os.path.join(dirpath, n)
                try:
                    st = os.stat(p)
                except OSError:
                    continue
                out[p] = (st.st_size, st.st_mtime_ns)
    return out


class _Changes:
    """A flag raised by file events: watchdog's observer, or a polling thread."""

    def __init__(self, folders: list[str], interval_s: float, use_watchdog: bool | None):
        self.event, self.kind = threading.Event(), "polling"
        self._stop = threading.Event()
        self._observer = None
        if use_watchdog is not False:
            try:
                from watchdog.events import FileSystemEventHandler
                from watchdog.observers import Observer
            except ImportError:
                if use_watchdog:
                    raise
            else:
                flag = self.event

                class Handler(FileSystemEventHandler):
                    def on_any_event(self, event) -> None:
                        if event.event_type not in ("opened", "closed_no_write"):
                            flag.set()

                self._observer = Observer()
                for f in folders:
                    self._observer.schedule(Handler(), f, recursive=True)
                self._observer.start()
                self.kind = "watchdog"
        if self._observer is None:
            self._thread = threading.Thread(target=self._poll, args=(folders, interval_s),
                                            daemon=True)
            self._thread.start()

    def _poll(self, folders: list[str], interval_s: float) -> None:
        last = snapshot(folders)
        while not self._stop.wait(interval_s):
            now = snapshot(folders)
            if now != last:
                last = now
                self.event.set()

    def close(self) -> None:
        self._stop.set()
        if self._observer is not None:
            self._observer.stop()
            self._observer.join(timeout=5)


def watch(lib, paths=None, *, on_report: Callable[[SyncReport], None] | None = None,
          stop: threading.Event | None = None, interval_s: float = 2.0, settle_s: float = 1.0,
          use_watchdog: bool | None = None, batch_size: int = 16) -> None:
    """Sync ``lib`` now and after every burst of changes under ``paths`` (default: the
    remembered folders) until ``stop`` is set (or Ctrl-C). ``on_report`` gets each report;
    ``use_watchdog``: ``None`` uses it when installed, ``False`` polls."""
    stop = stop or threading.Event()
    rep = sync(lib, paths, batch_size=batch_size)
    online = _online(lib, rep)
    changes = _Changes(online, interval_s, use_watchdog)
    log.info("watching %s (%s)", ", ".join(online), changes.kind)
    last_check = time.monotonic()
    try:
        if on_report:
            on_report(rep)
        while not stop.is_set():
            changed = changes.event.wait(min(0.2, interval_s))
            if not changed and time.monotonic() - last_check >= interval_s:
                last_check = time.monotonic()
                changed = _online(lib, rep, now=True) != online  # a folder went or came
            if not changed:
                continue
            while changes.event.is_set() and not stop.is_set():  # wait for the burst to end
                changes.event.clear()
                time.sleep(settle_s)
            if stop.is_set():
                break
            rep = sync(lib, batch_size=batch_size)
            if on_report:
                on_report(rep)
            if (now := _online(lib, rep)) != online:  # watch what is there now
                for r, why, n in rep.offline:
                    log.warning("%s is offline (%s); its %d tracks are kept until it is back",
                                r, why, n)
                changes.close()
                online = now
                changes = _Changes(online, interval_s, use_watchdog)
                log.info("watching %s (%s)", ", ".join(online), changes.kind)
    finally:
        changes.close()


def _online(lib, rep: SyncReport, now: bool = False) -> list[str]:
    """The remembered folders that are there: those ``rep`` did not find offline, or (``now``)
    those :func:`root_status` accepts now — an empty one staying offline while ``rep`` had it
    offline (the drive is still out)."""
    off = {r for r, _, _ in rep.offline}
    if not now:
        return [f for f in roots(lib) if f not in off and Path(f).is_dir()]
    return [f for f in roots(lib) if root_status(f, holds_tracks=f in off) is None
            and Path(f).is_dir()]
