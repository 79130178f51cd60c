"""``Library.check`` / ``lyrebird index check LIB [--repair]``: is a library folder sound?

Checks, in order, each reported as one line in :attr:`CheckReport.problems`:

* ``library.sqlite``: opens as SQLite, ``PRAGMA integrity_check`` says ``ok``, the tables and
  the meta keys a library needs are there;
* ``tracks.faiss`` / ``segments.faiss``: present, readable, of the library's width, and holding
  exactly the committed row ids (counts and ids);
* ``LOCK``: present (a writer is busy when it is held; that is reported, not a problem);
* the tracks' files: those not on disk are listed in ``missing_files`` (a drive may be
  unplugged) and never removed — ``lyrebird index sync`` decides that.

``repair=True`` fixes what can be rebuilt from the database, under the writer lock: SQLite's
own indexes (``REINDEX``), both FAISS files (rebuilt from the rows), a missing ``LOCK``,
temporary files left by an interrupted write. The database itself is the source of truth: when
it is damaged the report says to restore it from a backup.
"""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path

from . import locking, store
from .indexes import FILES, LibraryIndexes
from .types import CheckReport, LibraryError
from .vectors import IndexPolicy, index_ids, load_index

DB = "library.sqlite"
NEEDED_META = ("model", "fingerprint", "dim", "sample_rate", "segment_s", "hop_s")


def check(folder: Path, *, repair: bool = False) -> CheckReport:
    """Check the library at ``folder`` (and, with ``repair``, rebuild what can be rebuilt)."""
    folder = Path(folder)
    rep = CheckReport(str(folder))
    db = folder / DB
    if not db.is_file():
        rep.problems.append(f"'{db}': missing; not a library folder (create one with "
                            "`lyrebird index create`)")
        return rep
    try:
        con = store.connect(db, readonly=True)
    except LibraryError as e:
        rep.problems.append(str(e))
        return rep
    try:
        if not _sqlite(con, db, rep, repair) or not _schema(con, db, rep):
            return rep
        meta = store.get_meta(con)
        rep.counts = {k: int(v) for k, v in store.counts(con).items() if k != "hours"}
        stale = _faiss(folder, con, int(meta["dim"]), rep)
        _lock(folder, rep, repair)
        rep.missing_files = [(p, tid) for tid, p, _, _ in store.track_files(con)
                             if not os.path.isfile(p)]
    finally:
        con.close()
    if repair and stale:
        _rebuild(folder, meta, stale, rep)
    return rep


def _sqlite(con: sqlite3.Connection, db: Path, rep: CheckReport, repair: bool) -> bool:
    """``PRAGMA integrity_check``; with ``repair``, ``REINDEX`` and check again."""
    try:
        bad = _integrity(con)
        if bad and repair:
            rw = sqlite3.connect(db, timeout=30)
            try:
                rw.execute("REINDEX")
                rw.commit()
            finally:
                rw.close()
            if not (still := _integrity(con)):
                rep.repaired.append(f"'{db}': SQLite indexes rebuilt (REINDEX): {bad[0]}")
            bad = still
    except sqlite3.DatabaseError as e:
        bad = [str(e)]
    if bad:
        rep.problems += [f"'{db}': integrity check: {b}" for b in bad[:20]]
        rep.problems.append(f"'{db}': damaged; restore it from a backup, or create the library "
                            "again and `lyrebird index sync` your folders")
    return not bad


def _integrity(con: sqlite3.Connection) -> list[str]:
    rows = [r[0] for r in con.execute("PRAGMA integrity_check").fetchall()]
    return [] if rows == ["ok"] else rows


def _schema(con: sqlite3.Connection, db: Path, rep: CheckReport) -> bool:
    tables = store.table_names(con)
    lacking = [t for t in ("meta", "tracks", "segments") if t not in tables]
    if lacking:
        rep.problems.append(f"'{db}': tables missing: {', '.join(lacking)}; not a Lyrebird "
                            "library")
        return False
    meta = store.get_meta(con)
    lacking = [k for k in NEEDED_META if k not in meta]
    if lacking:
        rep.problems.append(f"'{db}': meta keys missing: {', '.join(lacking)}")
        return False
    return True


def _faiss(folder: Path, con: sqlite3.Connection, dim: int, rep: CheckReport) -> list[str]:
    """Compare each FAISS file with the rows; returns the tables whose file is stale."""
    stale = []
    for table, name in FILES.items():
        rows = store.row_ids(con, table)
        path = folder / name
        why = None
        if not path.is_file():
            why = "missing"
        else:
            try:
                idx = load_index(path)
            except (RuntimeError, OSError) as e:
                why = f"unreadable ({e})"
            else:
                ids = set(index_ids(idx).tolist())
                rep.counts[f"{table}_faiss"] = int(idx.ntotal)
                if len(rows) and idx.d != dim:
                    why = f"vectors of width {idx.d}, the library's are {dim}"
                elif ids != rows:
                    why = (f"{idx.ntotal} vectors for {len(rows)} rows ({len(ids - rows)} ids "
                           f"not in the database, {len(rows - ids)} rows without a vector)")
        if why is not None:
            stale.append(table)
            rep.problems.append(f"'{path}': {why}; `lyrebird index check "
                                f"{folder} --repair` rebuilds it from the database")
    return stale


def _lock(folder: Path, rep: CheckReport, repair: bool) -> None:
    lock = folder / locking.LOCK
    if lock.exists() and not lock.is_file():
        rep.problems.append(f"'{lock}': not a regular file; move it aside")
    elif not lock.exists():
        if repair:
            lock.touch()
            rep.repaired.append(f"'{lock}': recreated")
        else:
            rep.problems.append(f"'{lock}': missing; `--repair` recreates it")
    else:
        with locking.if_free(folder) as free:
            if not free:
                rep.counts["writer_busy"] = 1


def _rebuild(folder: Path, meta: dict[str, str], stale: list[str], rep: CheckReport) -> None:
    """Under the writer lock: delete the stale files and rebuild them from the rows."""
    policy = IndexPolicy(**json.loads(meta.get("policy", "{}")))
    try:
        with locking.held(folder):
            con = store.connect(folder / DB)
            try:
                for table in stale:
                    (folder / FILES[table]).unlink(missing_ok=True)
                idx = LibraryIndexes(folder, con, int(meta["dim"]), policy, readonly=False)
                idx.clear_stale_temps()
            finally:
                con.close()
    except LibraryError as e:  # another process is writing
        rep.problems.append(f"{e}; run --repair again when it is done")
        return
    for table in stale:
        path = folder / FILES[table]
        rep.problems = [p for p in rep.problems if not p.startswith(f"'{path}'")]
        rep.repaired.append(f"'{path}': rebuilt from the database")
