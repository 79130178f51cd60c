"""The real recordings in ``lyrebird demo``: test-split tracks of the real-recording corpus.

Beside its synthetic pieces the demo library holds every track of the small Debian packages
named in :data:`~lyrebird.train.corpora.debian_packages.DEMO_PACKAGES` (about 1.1 h). They
are built into ``DATA/real/`` by the corpus's own code
(:func:`~lyrebird.train.corpora.debian_corpus.build_debian_corpus`: finding the tracks,
mixing Frets on Fire songs, rendering tracker modules, titles from tags and files, licences
from the copyright files; a per-track cache, so a second run takes a fraction of a second).
Those packages are held out, so the small build gives them the split the whole corpus gives
them — test, which every complete corpus build checks — and only test-split tracks not
flagged as loops or ambience are added.

A package that is not installed is named with the ``apt-get install`` command that installs
it; the demo goes on with the rest (with none, with the synthetic part alone).

Each track gets its title, artist (or composer), album (else the package), genre and licence
as file tags, and ``work`` = the track, so that no two tracks are grouped as one work. Tracks
linked from an installed package are replaced by copies before tagging: installed files are
never written.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

    from lyrebird.train.corpora.debian_packages import PackageSource, PackageSpec

REAL_QUERIES = ["heavy metal with distorted guitars", "fast techno with a drum machine",
                "video game soundtrack"]
"""Example searches for the real recordings, offered first when the demo library has them."""


@dataclass
class RealPart:
    """The real tracks to add (``table``: manifest rows, paths relative to ``root``) and what
    the build did (``report``, JSON-ready)."""

    table: pd.DataFrame
    root: Path
    report: dict[str, Any] = field(default_factory=dict)

    def files(self) -> list[Path]:
        """The tracks' audio files."""
        return [self.root / p for p in self.table["path"]]


def demo_specs() -> list[PackageSpec]:
    """The corpus specs of :data:`DEMO_PACKAGES`."""
    from lyrebird.train.corpora.debian_packages import DEMO_PACKAGES, selected_packages

    return selected_packages(names=list(DEMO_PACKAGES))


def install_command(packages: Iterable[str]) -> str:
    """The command that installs ``packages``."""
    return "sudo apt-get install --no-install-recommends " + " ".join(packages)


def build_real_part(out: Path, specs: list[PackageSpec] | None = None,
                    sources: dict[str, PackageSource] | None = None,
                    workers: int = 2) -> RealPart:
    """Build (or resume) the packages of ``specs`` (default :func:`demo_specs`) into ``out``
    with :func:`build_debian_corpus`, every one held out in test, and keep the test-split
    tracks that are not loops or ambience. ``sources`` (tests): package folders instead of
    the installed packages."""
    import pandas as pd

    from lyrebird.train.corpora.debian_corpus import DebianConfig, build_debian_corpus

    t0 = time.monotonic()
    specs = specs or demo_specs()
    names = tuple(s.name for s in specs)
    rep = build_debian_corpus(out, DebianConfig(packages=names, holdout_packages=names,
                                                workers=workers), specs=specs, sources=sources)
    table = pd.read_parquet(rep.manifest)
    test = table["split"] == "test"
    keep = table[test & ~table["is_loop"].astype(bool)].reset_index(drop=True)
    report = {
        "packages": [n for n in names if n not in rep.missing], "missing": rep.missing,
        "install": install_command(rep.missing) if rep.missing else None,
        "tracks": len(keep), "hours": round(float(keep["duration_s"].sum()) / 3600, 3),
        "left_out": {"not in the test split": int((~test).sum()),
                     "loops or ambience": int((test & table["is_loop"].astype(bool)).sum())},
        "skipped": [f"{s['package']}: {s['package_path']}: {s['reason']}"
                    for s in rep.skipped],
        "manifest": rep.manifest, "seconds": round(time.monotonic() - t0, 1)}
    return RealPart(keep, Path(rep.manifest).parent, report)


def real_tags(table: pd.DataFrame) -> dict[str, dict[str, str]]:
    """``{manifest path: {title, artist, album, genre, license, work, comment}}`` from the
    corpus's labels: the title (else the file name, made readable; a credit in it, "Gargl by
    |Mordred|", taken as the artist), the artist or composer when known (one spelling per
    person within a package, :func:`lyrebird.core.metadata.unify_names`), the album (else
    the package), the genre when known, the package's licence for the file."""

    def text(v: Any) -> str | None:
        return v.strip() if isinstance(v, str) and v.strip() else None

    from lyrebird.core.metadata import tidy_labels, unify_names

    out: dict[str, dict[str, str]] = {}
    rows = list(table.itertuples())
    labels = [tidy_labels(text(r.title), text(r.artist) or text(r.composer),
                          Path(r.package_path).stem) for r in rows]
    spelling: dict[str, dict[str, str]] = {}  # package → {name: one spelling per person}
    for pkg in {r.package for r in rows}:
        spelling[pkg] = unify_names(a for r, (_, a) in zip(rows, labels, strict=True)
                                    if r.package == pkg)
    for r, (title, artist) in zip(rows, labels, strict=True):
        tags = {"title": title or Path(r.package_path).stem,
                "album": text(r.album) or r.package, "work": r.track_id,
                "comment": f"Debian package {r.package}: {r.package_path}"}
        if artist:
            tags["artist"] = spelling[r.package].get(artist, artist)
        if genre := text(r.genre):
            tags["genre"] = genre
        if licence := text(r.licence):
            tags["license"] = licence
        out[r.path] = tags
    return out


def own_copies(paths: Iterable[Path]) -> int:
    """Replace each symbolic link among ``paths`` (a track linked from an installed package)
    by a copy of the file, so that its tags can be written; returns how many were copied."""
    from lyrebird.core.atomic import replaced_on_success

    done = 0
    for p in paths:
        if p.is_symlink():
            with replaced_on_success(p) as tmp:
                shutil.copyfile(p.resolve(), tmp)
            done += 1
    return done


def describe(report: dict[str, Any]) -> list[str]:
    """Lines for the demo's summary: what was added, what is missing and how to install it."""
    lines = []
    if report.get("tracks"):
        lines.append(f"  real recordings: {report['tracks']} tracks, {report['hours']:.2f} h "
                     f"from the Debian packages {', '.join(report['packages'])} (test split "
                     "of the real-recording corpus)")
    if report.get("missing"):
        lines.append(f"  not installed: {', '.join(report['missing'])}; install them with "
                     f"`{report['install']}` (or run .ci/setup as root) and run the demo again")
    failed = [s for s in report.get("skipped", []) if "too short" not in s]
    if failed:
        lines.append(f"  {len(failed)} real tracks skipped: " + "; ".join(failed[:2]))
    return lines


__all__ = ["REAL_QUERIES", "RealPart", "build_real_part", "demo_specs", "describe",
           "install_command", "own_copies", "real_tags"]
