"""Write a file so that readers see the old or the new version, never a half-written one.

Every writer gets a private temporary file beside the target (``mkstemp``), so two processes
building the same cache at once cannot clash on a shared ``<name>.tmp``: each renames its own
complete file onto the target (``os.replace`` is atomic on one file system) and the last one
wins. A block that fails, or is interrupted, leaves no temporary file behind.
:func:`folder_on_success` does the same for a folder of files (a cache entry written whole).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path


def _new_file_mode() -> int:
    """The mode a newly created file gets here (0o666 less the umask): ``mkstemp`` makes its
    temporary files 0o600, and library files are read by other users' servers too."""
    try:
        with open("/proc/self/status") as f:
            umask = next(int(x.split()[1], 8) for x in f if x.startswith("Umask:"))
    except (OSError, StopIteration, ValueError):
        umask = os.umask(0o022)
        os.umask(umask)
    return 0o666 & ~umask


@contextlib.contextmanager
def replaced_on_success(path: str | os.PathLike, durable: bool = False) -> Iterator[str]:
    """Yield a private temporary file name beside ``path``; rename it onto ``path`` if the
    block succeeds, delete it if the block raises.

    The file gets the mode a new file would (0o666 less the umask; ``mkstemp`` alone makes
    0o600). ``durable`` also fsyncs the file before the rename and the folder after it, so the
    new version survives a power cut (the library's index files need this; caches do not).
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp")
    os.close(fd)
    try:
        yield tmp
        os.chmod(tmp, _new_file_mode())
        if durable:
            with open(tmp, "rb") as f:
                os.fsync(f.fileno())
        os.replace(tmp, path)
        if durable:
            fsync_dir(path.parent)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def folder_on_success(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a private temporary folder beside ``path`` to fill; rename it onto ``path`` if
    the block succeeds, delete it if the block raises. The folder appears whole or not at all.

    When ``path`` already exists when the block ends (another process finished first, or it
    was there before), that folder is kept and this one discarded: use it for caches whose
    content depends on the name only (e.g. a model export keyed by the model's fingerprint).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp"))
    try:
        yield tmp
        mode = _new_file_mode()
        os.chmod(tmp, mode | (mode & 0o444) >> 2)  # mkdtemp makes 0o700; x where r
        try:
            os.rename(tmp, path)  # atomic; fails when path exists (kept: the other writer's)
        except OSError:
            if not path.is_dir():
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def fsync_dir(folder: Path) -> None:
    """Make renames and deletions in ``folder`` durable."""
    dfd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


def remove_stale_temps(path: Path, older_than_s: float = 3600.0) -> list[Path]:
    """Delete temporary files of :func:`replaced_on_success` (and folders of
    :func:`folder_on_success`) for ``path`` left by a killed writer (untouched for
    ``older_than_s`` seconds, so a write in progress is never hit)."""
    path, gone = Path(path), []
    now = time.time()
    legacy = path.with_name(path.name + ".tmp")  # the fixed name older versions wrote through
    for tmp in [*path.parent.glob(path.name + ".*.tmp"), *([legacy] if legacy.exists() else [])]:
        try:
            if now - tmp.stat().st_mtime > older_than_s:
                if tmp.is_dir():
                    shutil.rmtree(tmp)
                else:
                    tmp.unlink()
                gone.append(tmp)
        except FileNotFoundError:
            pass
    return gone


__all__ = ["folder_on_success", "fsync_dir", "remove_stale_temps", "replaced_on_success"]
