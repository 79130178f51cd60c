"""Gather the real-recording pretraining corpus from Debian's game-music packages.

About 15 hours of ogg/opus music (GPL / CC-BY-SA) ship in these packages. This module links
their music files into one folder (one subfolder per package) and extracts the oggs that
``ufoai-music`` keeps inside a ``.pk3`` (zip) archive, ready for ``lyrebird data import``.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from .debian_packages import package_files

DEBIAN_MUSIC_PACKAGES: dict[str, str] = {
    # package → regular expression a file path must match to count as music
    "warzone2100-music": r".",
    "ufoai-music": r"(?i)/music/",  # inside base/0music.pk3
    "planetblupi-music-ogg": r".",
    "supertux-data": r"(?i)/music/",
    "hedgewars-data": r"(?i)/music/",
    "freedroidrpg-data": r"(?i)/music/",
    "drascula-music": r".",
}
"""The packages and which of their audio files are music (the rest is sound effects)."""

MUSIC_EXTENSIONS = (".ogg", ".oga", ".opus", ".mp3", ".flac")


@dataclass
class CollectReport:
    """Files gathered per package, and packages that are missing."""

    out: str
    files: dict[str, int] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)
    install_hint: str | None = None


def install(packages: list[str]) -> None:
    """``apt-get install`` the packages (needs root and the Debian archive)."""
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(["apt-get", "install", "-y", "-q", "--no-install-recommends", *packages],
                   check=True, env=env)


def _link(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    if dst.exists() or dst.is_symlink():
        return
    try:
        dst.symlink_to(src)
    except OSError:
        shutil.copy2(src, dst)


def collect_debian_music(out: str | os.PathLike, packages: dict[str, str] | None = None,
                         *, do_install: bool = False) -> CollectReport:
    """Link (or extract) every music file of the installed packages into ``out/<package>/``.

    Idempotent: files already present are left alone. With ``do_install`` missing packages are
    installed first with apt-get.
    """
    packages = packages or DEBIAN_MUSIC_PACKAGES
    out = Path(out)
    report = CollectReport(out=str(out))
    listing = {p: package_files(p) for p in packages}
    missing = [p for p, files in listing.items() if not files]
    if missing and do_install:
        install(missing)
        listing.update({p: package_files(p) for p in missing})
        missing = [p for p, files in listing.items() if not files]
    report.missing = missing
    if missing:
        report.install_hint = "apt-get install " + " ".join(missing)
    for pkg, files in listing.items():
        pattern = re.compile(packages[pkg])
        n = 0
        for f in files:
            if not f.is_file():
                continue
            if f.suffix.lower() == ".pk3":
                with zipfile.ZipFile(f) as z:
                    for member in z.namelist():
                        if (member.lower().endswith(MUSIC_EXTENSIONS)
                                and pattern.search("/" + member)):
                            dst = out / pkg / f.stem / member
                            if not dst.exists():
                                dst.parent.mkdir(parents=True, exist_ok=True)
                                tmp = dst.with_name(dst.name + ".part")
                                with z.open(member) as src, open(tmp, "wb") as fh:
                                    shutil.copyfileobj(src, fh)
                                os.replace(tmp, dst)
                            n += 1
            elif f.suffix.lower() in MUSIC_EXTENSIONS and pattern.search(str(f)):
                _link(f, out / pkg / f.relative_to(f.anchor))
                n += 1
        report.files[pkg] = n
    return report
