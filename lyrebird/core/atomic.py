"""Write a file so that readers see the old or the new version, never a half-written one.

Every writer gets a private temporary file beside the target (``mkstemp``), so two processes
building the same cache at once cannot clash on a shared ``<name>.tmp``: each renames its own
complete file onto the target (``os.replace`` is atomic on one file system) and the last one
wins. A block that fails, or is interrupted, leaves no temporary file behind.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def replaced_on_success(path: str | os.PathLike) -> Iterator[str]:
    """Yield a private temporary file name beside ``path``; rename it onto ``path`` if the
    block succeeds, delete it if the block raises."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp")
    os.close(fd)
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


__all__ = ["replaced_on_success"]
