"""Keep a library in step with the files on disk: new, gone, moved and edited files.

:func:`sync` (``Library.sync``, ``lyrebird index sync``) compares the library's tracks with
the audio files under its folders:

* a track whose file is unchanged (same size and modification time as recorded, or else the
  same SHA-256) is left alone — unchanged files are not read;
* a file the library does not know whose content hash is that of a track whose file is gone
  was **moved or renamed**: the track gets the new path, keeping its id and vectors;
* a track whose file is gone and not found elsewhere is **removed**;
* a track whose file's content changed is **updated**: removed and embedded again (it gets a
  new track id, so a crash can never leave the old vectors under the new content); when its
  old content turns up under another name, that file takes over the track (a move);
* any other new file is **added**, as by ``Library.add``.

Each step is its own commit, published like ``add`` (:mod:`.writer`), in the order moves →
removals → additions; an interruption leaves a consistent library and running sync again
finishes the job. The folders are remembered in the ``sync_roots`` meta key, so later calls
may omit them.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from lyrebird.core.fingerprint import content_hash
from lyrebird.core.progress import progress

from . import store, writer
from .ingest import MAX_DURATION_S, discover, embed_file, file_metadata
from .types import LibraryError, SyncReport

ROOTS_KEY = "sync_roots"


def roots(lib) -> list[str]:
    """The folders earlier syncs were given (``sync_roots`` meta)."""
    return json.loads(store.get_meta(lib.con).get(ROOTS_KEY, "[]"))


def sync(lib, paths=None, *, batch_size: int = 16,
         max_duration_s: float = MAX_DURATION_S) -> SyncReport:
    """Bring ``lib`` (a writable :class:`lyrebird.index.Library`) in step with ``paths``
    (folders or files; default: the remembered folders). Returns a :class:`SyncReport`."""
    rep = SyncReport()
    with lib.writing():
        given = [str(Path(p).expanduser().resolve()) for p in paths or []]
        scan = given or roots(lib)
        if not scan:
            raise LibraryError(f"'{lib.path}': no folders to sync; give PATH (remembered after)")
        files, missing = discover(scan)
        rep.failed += missing
        if given:
            with store.immediate(lib.con):
                store.set_meta(lib.con, **{ROOTS_KEY: json.dumps(sorted(set(roots(lib)) | {
                    p for p in given if Path(p).is_dir()}))})
        known = store.track_files(lib.con)
        by_path = {p: (tid, h, st) for tid, p, h, st in known}
        hashes = {h for _, _, h, _ in known}
        gone: dict[str, tuple[int, str]] = {}  # old content hash -> (track id, old path)
        stats: dict[int, tuple[int, int] | None] = {}
        edited: dict[int, tuple[str, str | None]] = {}  # track id -> (path, new content hash)
        for tid, p, h, st in progress(known, desc="sync check"):
            now = writer.file_stat(p) if os.path.isfile(p) else None
            if now is None:
                gone[h] = (tid, p)
            elif now == st:
                rep.unchanged += 1
            elif (nh := _hash(p)) == h:
                rep.unchanged += 1
                stats[tid] = now
            else:  # its old content may have moved elsewhere (copied, then edited in place)
                edited[tid] = (p, nh)
                gone[h] = (tid, p)
        new: list[tuple[Path, str]] = []
        for f in progress([f for f in files if str(f) not in by_path], desc="sync scan"):
            h = _hash(f)
            if h is None:
                rep.failed.append((str(f), "unreadable"))
            elif h in gone:
                tid, old = gone.pop(h)
                rep.moved.append((old, str(f), tid))
                stats[tid] = writer.file_stat(f)
            elif h in hashes:
                rep.duplicates.append((str(f), store.has_hash(lib.con, h)))
            else:
                new.append((f, h))
        writer.move(lib, [(tid, new_p) for _, new_p, tid in rep.moved], stats)
        rep.removed = [(p, tid) for tid, p in gone.values() if tid not in edited]
        writer.delete(lib, [tid for tid, _ in gone.values()])
        again = {p for p, _ in edited.values()}
        new += [(Path(p), nh) for p, nh in edited.values() if nh is not None]
        rep.failed += [(p, "unreadable") for p, nh in edited.values() if nh is None]
        add = _add(lib, new, batch_size, max_duration_s)
        rep.added = [(p, i) for p, i in add.added if p not in again]
        rep.updated = [(p, i) for p, i in add.added if p in again]
        rep.duplicates += add.duplicates
        rep.failed += add.failed
    return rep


def _hash(path) -> str | None:
    try:
        return content_hash(path)
    except OSError:
        return None


def _add(lib, new: list[tuple[Path, str]], batch_size: int, max_duration_s: float):
    seg, hop = float(lib.meta["segment_s"]), float(lib.meta["hop_s"])
    items = ((str(f), h, lambda f=f: ({**file_metadata(f), "_stat": writer.file_stat(f)},
                                      embed_file(lib.model, f, seg, hop,
                                                 max_duration_s=max_duration_s)))
             for f, h in progress(new, desc="sync add"))
    return writer.ingest(lib, items, batch_size)
