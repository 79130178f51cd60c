"""``lyrebird data debian-music``: the real-recording corpus with the text its files carry.

Steps: list each package's files (``dpkg -L``, or a folder for tests), find its tracks and the
text beside them (:mod:`.debian_sources`), materialise and analyse every track in worker
processes with a per-track cache (:mod:`.debian_process`), then assemble: merge labels by
source, drop placeholders, duplicates, non-music and too-short files (each with its reason),
flag loops and ambience (:mod:`.loops`), attach each package's licence (:mod:`.licences`),
split by artist and package (:mod:`.debian_splits`), and write ``OUT/manifest.parquet`` and
the build report ``OUT/build.json``. See docs/data.md.
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter, defaultdict
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from lyrebird.core.atomic import replaced_on_success

from .debian_packages import (
    DEMO_PACKAGES,
    PACKAGES,
    PackageSource,
    PackageSpec,
    install,
    installed_package,
)
from .debian_packages import selected_packages as _selected
from .debian_process import ProcessConfig, process_item
from .debian_rows import LABEL_COLUMNS, assemble_tracks, manifest_rows
from .debian_sources import SourceItem, scan_package
from .debian_splits import artist_groups, assign_group_splits, outside_test
from .manifest import validate_manifest, write_manifest


@dataclass(frozen=True)
class DebianConfig:
    """Options of :func:`build_debian_corpus`."""

    large: bool = False  # also the large packages (naev, supertuxkart, 0ad …)
    packages: tuple[str, ...] = ()  # only these (names from debian_packages.PACKAGES)
    install: bool = False  # apt-get install missing packages first (root)
    workers: int = 1
    min_duration_s: float = 10.0  # shorter tracks are dropped (reported)
    clip_s: float | None = None  # None: one row per track (as `lyrebird data import`)
    seed: int = 0
    split_fractions: tuple[float, float, float] = (0.8, 0.1, 0.1)
    # groups touching these go to test: the demo's real recordings are held out by
    # construction, never by the luck of the seeded assignment
    holdout_packages: tuple[str, ...] = DEMO_PACKAGES
    process: ProcessConfig = field(default_factory=ProcessConfig)


@dataclass
class DebianReport:
    """What a build did (also written to ``OUT/build.json``)."""

    out: str
    manifest: str
    tracks: int = 0
    rows: int = 0
    hours: float = 0.0
    hours_unflagged: float = 0.0
    hours_music: float = 0.0  # all but ambience
    hours_unique: float = 0.0  # all but ambience, repeats counted up to the repeat point
    hours_flagged: dict[str, float] = field(default_factory=dict)  # per flag kind
    packages: dict[str, dict[str, Any]] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)
    install_hint: str | None = None
    per_split: dict[str, dict[str, float]] = field(default_factory=dict)
    per_genre_tag: dict[str, float] = field(default_factory=dict)
    per_label_source: dict[str, dict[str, int]] = field(default_factory=dict)
    flagged: list[dict[str, str]] = field(default_factory=list)
    skipped: list[dict[str, str]] = field(default_factory=list)
    duplicates: list[dict[str, str]] = field(default_factory=list)
    dropped_labels: list[dict[str, str]] = field(default_factory=list)
    package_labels: dict[str, dict[str, Any]] = field(default_factory=dict)  # + evidence
    stems_left_out: int = 0
    items: int = 0
    items_cached: int = 0
    valid: bool = False
    problems: list[str] = field(default_factory=list)
    timing: dict[str, float] = field(default_factory=dict)


def _sources(specs: list[PackageSpec], given: dict[str, PackageSource] | None,
             do_install: bool, report: DebianReport) -> dict[str, PackageSource]:
    if given is not None:
        found = {s.name: given[s.name] for s in specs if s.name in given}
    else:
        found = {s.name: src for s in specs if (src := installed_package(s.name)) is not None}
        missing = [s.name for s in specs if s.name not in found]
        if missing and do_install:
            install(missing)
            found |= {n: src for n in missing if (src := installed_package(n)) is not None}
    report.missing = [s.name for s in specs if s.name not in found]
    if report.missing:
        report.install_hint = "apt-get install " + " ".join(report.missing)
    return found


def _run_items(items: list[SourceItem], out: Path, cfg: DebianConfig) -> list[dict[str, Any]]:
    from lyrebird.core.progress import progress

    if cfg.workers <= 1 or len(items) < 2:
        return [process_item(it, out, cfg.process)
                for it in progress(items, desc="debian-music")]
    with ProcessPoolExecutor(cfg.workers) as pool:
        futures = [pool.submit(process_item, it, out, cfg.process) for it in items]
        return [f.result() for f in progress(futures, desc="debian-music")]


def build_debian_corpus(out: str | os.PathLike, cfg: DebianConfig = DebianConfig(), *,
                        manifest: str | os.PathLike | None = None,
                        specs: list[PackageSpec] | None = None,
                        sources: dict[str, PackageSource] | None = None) -> DebianReport:
    """Build (or resume) the corpus in ``out``; returns the report.

    Args:
        out: output folder (``audio/``, ``parts/``, ``manifest.parquet``, ``build.json``).
        cfg: options.
        manifest: manifest path (default ``out/manifest.parquet``).
        specs: packages to use (default: :data:`debian_packages.PACKAGES` per ``cfg``).
        sources: package files by name (default: the installed packages; tests pass
            :func:`debian_packages.folder_package` folders).
    """
    t0 = time.monotonic()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    manifest = Path(manifest) if manifest else out / "manifest.parquet"
    report = DebianReport(out=str(out), manifest=str(manifest))
    specs = specs or _selected(cfg.large, list(cfg.packages) or None)
    srcs = _sources(specs, sources, cfg.install, report)
    items: list[SourceItem] = []
    for spec in specs:
        if spec.name not in srcs:
            continue
        scan = scan_package(srcs[spec.name], spec)
        items += scan.items
        report.skipped += scan.skipped
        report.stems_left_out += len(scan.stems)
        report.packages[spec.name] = {"found": len(scan.items), "stems": len(scan.stems),
                                      "text": spec.text, "large": spec.large}
    t_scan = time.monotonic()
    parts = _run_items(items, out, cfg)
    report.items = len(parts)
    report.items_cached = sum(1 for p in parts if p.get("cached"))
    t_proc = time.monotonic()
    tracks = assemble_tracks(parts, {s.name: s for s in specs}, srcs, out,
                             cfg.min_duration_s, cfg.process.loops, report)
    groups = artist_groups({t["item_id"]: t for t in tracks})
    hours: dict[str, float] = defaultdict(float)
    for t in tracks:
        t["work_id"] = groups[t["item_id"]]
        hours[t["work_id"]] += t["duration_s"] / 3600
    forced = {g for t in tracks if t["package"] in cfg.holdout_packages
              for g in [t["work_id"]]}
    splits = assign_group_splits(hours, cfg.seed, cfg.split_fractions, forced)
    for t in tracks:
        t["split"] = splits[t["work_id"]]
    df = manifest_rows(tracks, manifest, out, cfg.clip_s)
    write_manifest(df, manifest)
    _summarise(report, tracks, len(df))
    problems = validate_manifest(df, check_files=True, root=manifest.resolve().parent)
    report.problems = [str(p) for p in problems[:50]] + _demo_split_problems(specs, report,
                                                                             tracks)
    report.valid = not report.problems
    t_end = time.monotonic()
    report.timing = {"scan_s": round(t_scan - t0, 2), "process_s": round(t_proc - t_scan, 2),
                     "assemble_s": round(t_end - t_proc, 2), "total_s": round(t_end - t0, 2)}
    with replaced_on_success(out / "build.json") as tmp:
        Path(tmp).write_text(json.dumps(asdict(report) | {"config": _cfg_dict(cfg)},
                                        indent=1, ensure_ascii=False))
    return report


def _demo_split_problems(specs: list[PackageSpec], report: DebianReport,
                         tracks: list[dict[str, Any]]) -> list[str]:
    """On a complete build (every corpus package found), the demo's packages must all be in
    test: ``lyrebird demo`` shows them as music no model was trained on."""
    if {s.name for s in specs} != set(PACKAGES) or report.missing:
        return []
    return [f"{pkg}: tracks in {'/'.join(splits)}, but `lyrebird demo` shows this package as "
            "test-split music (debian_packages.DEMO_PACKAGES); choose test-split packages there"
            for pkg, splits in outside_test(tracks, DEMO_PACKAGES).items()]


def _cfg_dict(cfg: DebianConfig) -> dict[str, Any]:
    return json.loads(json.dumps(asdict(cfg), default=str))


def _summarise(report: DebianReport, tracks: list[dict[str, Any]], rows: int) -> None:
    report.tracks = len(tracks)
    report.rows = rows
    report.hours = round(sum(t["duration_s"] for t in tracks) / 3600, 3)
    report.hours_unflagged = round(sum(t["duration_s"] for t in tracks
                                       if not t["is_loop"]) / 3600, 3)
    flagged: Counter = Counter()
    unique = 0.0
    for t in tracks:
        kind = (t["flag_reason"] or "").split(":")[0]
        if kind:
            flagged[kind] += t["duration_s"] / 3600
        lag = (t["loop_features"] or {}).get("repeat_lag_s")
        if kind != "ambience":
            unique += (lag if kind == "repeats" and lag else t["duration_s"]) / 3600
    report.hours_flagged = {k: round(v, 3) for k, v in sorted(flagged.items())}
    report.hours_music = round(report.hours - flagged.get("ambience", 0.0), 3)
    report.hours_unique = round(unique, 3)
    by_pkg: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for t in tracks:
        by_pkg[t["package"]].append(t)
    for name, info in report.packages.items():
        ts = by_pkg.get(name, [])
        info.update(tracks=len(ts), hours=round(sum(t["duration_s"] for t in ts) / 3600, 3),
                    hours_unflagged=round(sum(t["duration_s"] for t in ts
                                              if not t["is_loop"]) / 3600, 3),
                    flagged=sum(1 for t in ts if t["is_loop"]),
                    licences=dict(Counter(str(t["licence"]) for t in ts)),
                    genres=dict(Counter(t["genre"] for t in ts if t.get("genre"))))
    for split in ("train", "valid", "test"):
        ts = [t for t in tracks if t["split"] == split]
        report.per_split[split] = {
            "tracks": len(ts), "hours": round(sum(t["duration_s"] for t in ts) / 3600, 3),
            "groups": len({t["work_id"] for t in ts}),
            "packages": len({t["package"] for t in ts})}
    tag_h: Counter = Counter()
    for t in tracks:
        for tag, src in t["tag_sources"].items():
            if src == "genre":
                tag_h[tag] += t["duration_s"] / 3600
    report.per_genre_tag = {k: round(v, 3) for k, v in tag_h.most_common()}
    for label in LABEL_COLUMNS:
        report.per_label_source[label] = dict(Counter(
            t.get(f"{label}_source") or "none" for t in tracks).most_common())
    report.flagged = [{"package": t["package"], "package_path": t["package_path"],
                       "reason": t["flag_reason"]} for t in tracks if t["is_loop"]]


__all__ = ["DebianConfig", "DebianReport", "build_debian_corpus"]
