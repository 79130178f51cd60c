"""Real recordings for the library benchmarks: Debian's game-music packages, by package.

The identification and similar-track benchmarks use real recordings the models never saw.
They come from the installed packages of
:data:`lyrebird.train.corpora.debian_music.DEBIAN_MUSIC_PACKAGES` (``dpkg -L``), or from a
manifest with ``path`` and ``package`` columns (``lyrebird data debian-music`` writes one).
The package is the label of the same-package precision of similar-track search.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import soundfile as sf


def installed_recordings(per_package: int = 12, min_s: float = 30.0,
                         packages: dict[str, str] | None = None) -> list[tuple[Path, str]]:
    """``(file, package)`` for up to ``per_package`` music files of each installed package,
    at least ``min_s`` long, spread evenly over the package's sorted files; files that share
    a name within a package (the same tune in several language folders) count once."""
    from lyrebird.train.corpora.debian_music import (
        DEBIAN_MUSIC_PACKAGES,
        MUSIC_EXTENSIONS,
        package_files,
    )

    out = []
    for pkg, pattern in (packages or DEBIAN_MUSIC_PACKAGES).items():
        rx, seen, files = re.compile(pattern), set(), []
        for f in sorted(package_files(pkg)):
            if (f.suffix.lower() in MUSIC_EXTENSIONS and rx.search(str(f)) and f.is_file()
                    and f.name not in seen):
                seen.add(f.name)
                files.append(f)
        files = [f for f in files if _duration(f) >= min_s]
        step = max(1.0, len(files) / per_package)
        out += [(files[int(i * step)], pkg) for i in range(min(per_package, len(files)))]
    return out


def manifest_recordings(manifest: str | os.PathLike, per_package: int = 12,
                        min_s: float = 30.0) -> list[tuple[Path, str]]:
    """The same selection from a manifest (parquet or CSV) with ``path`` and ``package``."""
    import pandas as pd

    m = Path(manifest)
    df = pd.read_parquet(m) if m.suffix == ".parquet" else pd.read_csv(m)
    missing = {"path", "package"} - set(df.columns)
    if missing:
        raise ValueError(f"{m}: the manifest needs columns {sorted(missing)}")
    out = []
    for pkg, g in df.drop_duplicates("path").sort_values("path").groupby("package"):
        files = [p for p in (_resolve(m, x) for x in g["path"]) if _duration(p) >= min_s]
        step = max(1.0, len(files) / per_package)
        out += [(files[int(i * step)], str(pkg)) for i in range(min(per_package, len(files)))]
    return out


def _resolve(manifest: Path, p: str) -> Path:
    q = Path(p)
    return q if q.is_absolute() else manifest.parent / q


def _duration(f: Path) -> float:
    try:
        return sf.info(str(f)).duration
    except (RuntimeError, OSError, sf.LibsndfileError):
        return 0.0
