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
* any other new file is **added**, as by ``Library.add``;
* a folder that is **offline** — missing, not a folder, unreadable, or empty while the library
  holds tracks under it (an unmounted drive leaves an empty mount point) — is reported in
  ``SyncReport.offline`` and its tracks are **kept** (still searchable) until it is back; the
  same for a track outside every folder whose own folder is gone or unreadable, and for a
  file that cannot be checked (an I/O error is not a deletion). Only a file missing from a
  folder that is there and readable is removed.

Each step is its own commit, published like ``add`` (:mod:`.writer`), in the order moves →
removals → additions; an interruption leaves a consistent library and running sync again
finishes the job. The folders are remembered in the ``sync_roots`` meta key (so are the folders
given to ``Library.add``), so later calls may omit them.
"""

from __future__ import annotations

import json
import os
import stat as stat_mod
from pathlib import Path

from lyrebird.core.fingerprint import content_hash
from lyrebird.core.progress import progress

from . import store
from .ingest import MAX_DURATION_S, discover, embed_file, file_metadata
from .types import LibraryError, SyncReport
from .writer import file_stat

ROOTS_KEY = "sync_roots"


def roots(lib) -> list[str]:
    """The folders earlier syncs were given (``sync_roots`` meta)."""
    return json.loads(store.get_meta(lib.con).get(ROOTS_KEY, "[]"))


def remember(lib, folders) -> None:
    """Add ``folders`` (the existing ones, as absolute paths) to the remembered sync folders
    (inside :meth:`Library.writing`, one commit; nothing when none is new)."""
    have = roots(lib)
    new = {str(Path(p).expanduser().resolve()) for p in folders} - set(have)
    new = {p for p in new if Path(p).is_dir()}
    if new:
        with store.immediate(lib.con):
            store.set_meta(lib.con, **{ROOTS_KEY: json.dumps(sorted(set(have) | new))})


def root_status(path: str | os.PathLike, holds_tracks: bool = False,
                file_ok: bool = False) -> str | None:
    """Why a sync folder cannot be trusted to list its files now (``None`` when it can): it
    is missing, not a folder (a file is fine when ``file_ok``: it was given as one),
    unreadable, or — when the library ``holds_tracks`` under it — empty, as an unmounted
    drive's mount point is."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return "missing (moved, deleted, or a drive that is not mounted?)"
    except OSError as e:
        return f"unreadable ({e.strerror or e})"
    if stat_mod.S_ISREG(st.st_mode) and file_ok:
        return None
    if not stat_mod.S_ISDIR(st.st_mode):
        return "not a folder"
    if not os.access(path, os.R_OK | os.X_OK):
        return "unreadable (permission denied)"
    try:
        with os.scandir(path) as it:
            empty = next(it, None) is None
    except OSError as e:
        return f"unreadable ({e.strerror or e})"
    if empty and holds_tracks:
        return ("empty while the library holds tracks under it (an unmounted drive?); if it "
                "was emptied on purpose, remove its tracks with `lyrebird index remove`")
    return None


def _under(path: str, folders: list[str]) -> str | None:
    """The innermost of ``folders`` that holds ``path`` (or is it)."""
    hits = [r for r in folders if path == r or path.startswith(r.rstrip(os.sep) + os.sep)]
    return max(hits, key=len) if hits else None


def _gone(path: str) -> tuple[bool, tuple[int, int] | None, str | None]:
    """``(gone, (size, mtime_ns), error)`` of a track's file: gone only when the system says it
    does not exist; any other failure to stat it is an error, not a deletion."""
    try:
        st = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return True, None, None
    except OSError as e:
        return False, None, f"cannot be checked ({e.strerror or e}); kept"
    if not stat_mod.S_ISREG(st.st_mode):
        return True, None, None
    return False, (st.st_size, st.st_mtime_ns), None


def sync(lib, paths=None, *, batch_size: int = 16,
         max_duration_s: float = MAX_DURATION_S) -> SyncReport:
    """Bring ``lib`` (a writable :class:`lyrebird.index.Library`) in step with ``paths``
    (folders or files; default: the remembered folders). Returns a :class:`SyncReport`;
    tracks under an offline folder are kept and the folder is listed in ``offline``."""
    rep = SyncReport()
    with lib.writing():
        given = [str(Path(p).expanduser().resolve()) for p in paths or []]
        remembered = roots(lib)
        scan = given or remembered
        if not scan:
            raise LibraryError(f"'{lib.path}': no folders to sync; give PATH (remembered after "
                               "it, like the folders given to `lyrebird index add`)")
        known = store.track_files(lib.con)
        all_roots = sorted(set(remembered) | set(given))
        holding = {_under(p, all_roots) for _, p, _, _ in known}
        offline = {r: why for r in all_roots
                   if (why := root_status(r, holds_tracks=r in holding,
                                          file_ok=r not in remembered)) is not None}
        files, missing = discover([p for p in scan if p not in offline])
        rep.failed += missing
        remember(lib, given)
        by_path = {p: (tid, h, st) for tid, p, h, st in known}
        hashes = {h for _, _, h, _ in known}
        gone: dict[str, tuple[int, str]] = {}  # old content hash -> (track id, old path)
        stats: dict[int, tuple[int, int] | None] = {}
        edited: dict[int, tuple[str, str | None]] = {}  # track id -> (path, new content hash)
        kept: dict[str, int] = {}  # offline folder -> tracks kept under it
        for tid, p, h, st in progress(known, desc="sync check"):
            is_gone, now, err = _gone(p)
            if err is not None:
                rep.failed.append((p, err))
            elif is_gone:
                if (why := _offline(p, _under(p, all_roots), offline)) is not None:
                    kept[why] = kept.get(why, 0) + 1
                    continue
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
                stats[tid] = file_stat(f)
            elif h in hashes:
                rep.duplicates.append((str(f), store.has_hash(lib.con, h)))
            else:
                new.append((f, h))
        rep.offline = [(r, offline[r], kept.get(r, 0)) for r in sorted(offline)]
        lib.writer.move([(tid, new_p) for _, new_p, tid in rep.moved], stats)
        rep.removed = [(p, tid) for tid, p in gone.values() if tid not in edited]
        lib.writer.delete([tid for tid, _ in gone.values()])
        again = {p for p, _ in edited.values()}
        new += [(Path(p), nh) for p, nh in edited.values() if nh is not None]
        rep.failed += [(p, "unreadable") for p, nh in edited.values() if nh is None]
        add = _add(lib, new, batch_size, max_duration_s)
        rep.added = [(p, i) for p, i in add.added if p not in again]
        rep.updated = [(p, i) for p, i in add.added if p in again]
        rep.duplicates += add.duplicates
        rep.failed += add.failed
    return rep


def _offline(path: str, root: str | None, offline: dict[str, str]) -> str | None:
    """The offline folder that keeps the gone track at ``path`` (adding its own folder to
    ``offline`` when that is gone or unreadable and no sync folder holds it), or ``None``:
    the file was deleted from a folder that is there, so its track goes."""
    if root is not None and root in offline:
        return root
    parent = os.path.dirname(path)
    try:
        if not stat_mod.S_ISDIR(os.stat(parent).st_mode):
            offline.setdefault(parent, "not a folder")
            return parent
    except (FileNotFoundError, NotADirectoryError):
        if root is not None:  # a folder deleted inside a sync folder that is there
            return None
        offline.setdefault(parent, "missing (moved, deleted, or a drive that is not mounted?)")
        return parent
    except OSError as e:
        offline.setdefault(parent, f"unreadable ({e.strerror or e})")
        return parent
    if not os.access(parent, os.R_OK | os.X_OK):
        offline.setdefault(parent, "unreadable (permission denied)")
        return parent
    return None


def _hash(path) -> str | None:
    try:
        return content_hash(path)
    except OSError:
        return None


def _add(lib, new: list[tuple[Path, str]], batch_size: int, max_duration_s: float):
    seg, hop = float(lib.meta["segment_s"]), float(lib.meta["hop_s"])
    items = ((str(f), h, lambda f=f: ({**file_metadata(f), "_stat": file_stat(f)},
                                      embed_file(lib.model, f, seg, hop,
                                                 max_duration_s=max_duration_s)))
             for f, h in progress(new, desc="sync add"))
    return lib.writer.ingest(items, batch_size)
