"""From processed tracks to manifest rows: label merging, drops, flags, licences, clips.

Labels are merged per label in this order of trust, and each keeps its source:
``sidecar`` (``.tags``), ``song.ini``, ``music xml`` (``.music``), ``file tag`` (Vorbis/Opus
comments, ID3 …), ``module title``, ``file name``. Dropped, each with its reason in the
report: tracks that failed (``skipped``), duplicates of an earlier track (same audio or same
source), tracks whose genre says they are sound effects, and tracks shorter than
``min_duration_s``. A BPM tag that is identical on every track of a package (3 or more) is a
placeholder and is dropped, as are the labels a package spec distrusts.
"""

from __future__ import annotations

import json
import os
import re
from collections import defaultdict
from pathlib import Path
from typing import Any

import pandas as pd

from lyrebird.core.fingerprint import stable_hash

from .debian_packages import PackageSource, PackageSpec
from .debian_sources import SourceItem, file_text, name_labels
from .licences import CopyrightFile
from .loops import LoopConfig, LoopFeatures, classify
from .package_labels import package_labels
from .text_sources import is_not_music_genre, tags_from_text

LABEL_COLUMNS = ("title", "artist", "album", "genre", "composer")
"""Labels with a ``<label>_source`` column."""

COLUMNS = ["clip_id", "path", "start_s", "end_s", "split", "work_id", "track_id",
           "collection", "captions", "tags", "title", "artist", "album", "genre", "composer",
           "date", "tempo_bpm", "duration_s", "sample_rate", "channels", "format",
           "content_hash", "source_path", "package", "package_path", "kind", "licence",
           "licence_source", "licence_tag", *(f"{c}_source" for c in LABEL_COLUMNS),
           "label_sources", "module_text", "repaired", "is_loop", "flag_reason", "loop_features"]
"""Manifest columns of the corpus, in order."""


def _merge_labels(item: SourceItem, file_labels: dict[str, str]
                  ) -> tuple[dict[str, str], dict[str, str]]:
    labels, sources = dict(item.labels), dict(item.sources)
    file_src = "module title" if item.kind == "module" else "file tag"
    for extra, src in ((file_labels, file_src),
                       (name_labels(item), "file name")):
        for k, v in extra.items():
            if v and k not in labels:
                labels[k], sources[k] = v, src
    return labels, sources


def _bpm(value: str | None) -> float | None:
    m = re.match(r"^\s*(\d+(?:\.\d+)?)", value or "")
    bpm = float(m.group(1)) if m else None
    return bpm if bpm and 20 <= bpm <= 400 else None


def assemble_tracks(parts: list[dict[str, Any]], specs: dict[str, PackageSpec],
                    sources: dict[str, PackageSource], out: Path, min_duration_s: float,
                    loop_cfg: LoopConfig, report: Any) -> list[dict[str, Any]]:
    """Tracks (one dict each, in scan order) from processed parts; reads each track's own
    text; fills the report's ``skipped``, ``duplicates`` and ``dropped_labels``."""
    copyrights = {n: CopyrightFile.read(s.copyright) for n, s in sources.items()}
    pkg_labels = {n: package_labels(specs[n], s) for n, s in sources.items() if n in specs}
    if hasattr(report, "package_labels"):
        report.package_labels = {n: {"labels": list(p.labels), "evidence": p.evidence}
                                 for n, p in pkg_labels.items() if p.labels}
    seen: dict[str, str] = {}
    tracks: list[dict[str, Any]] = []
    for part in parts:
        item = SourceItem(**part["item"])
        where = {"package": item.package, "package_path": item.package_path}
        if part.get("error"):
            report.skipped.append(where | {"reason": part["error"]})
            continue
        file_labels, module = file_text(item, out / part["audio"])
        labels, srcs = _merge_labels(item, file_labels)
        for drop in specs[item.package].drop_labels:
            if labels.pop(drop, None) is not None:
                report.dropped_labels.append(where | {"label": drop,
                                                      "reason": "package spec: placeholder"})
                srcs.pop(drop, None)
        if is_not_music_genre(labels.get("genre")):
            report.skipped.append(where | {"reason": f"genre tag says not music "
                                                     f"({labels['genre']!r})"})
            continue
        if part["duration_s"] < min_duration_s:
            report.skipped.append(where | {"reason": f"too short ({part['duration_s']:.1f} s "
                                                     f"< {min_duration_s:g} s)"})
            continue
        dup = seen.get(part["content_hash"]) or seen.get(part["source_hash"])
        if dup:
            report.duplicates.append(where | {"duplicate_of": dup})
            continue
        seen[part["content_hash"]] = seen[part["source_hash"]] = (
            f"{item.package}:{item.package_path}")
        feats = LoopFeatures(**part["loop_features"]) if part.get("loop_features") else None
        name = Path(item.member or item.origin).name
        is_loop, reason = classify(feats, part["duration_s"], name, loop_cfg)
        tag_src = tags_from_text(labels.get("genre"), labels.get("title"), labels.get("album"),
                                 module.get("module_names"))
        for tag, src in (pkg_labels[item.package].labels if item.package in pkg_labels
                         else {}).items():
            tag_src.setdefault(tag, src)  # the file's own text wins
        tag_src = dict(sorted(tag_src.items()))
        licence, lic_src = copyrights[item.package].licence_for(item.package_path)
        tracks.append({
            "item_id": part["item_id"], "audio": part["audio"], "package": item.package,
            "package_path": item.package_path, "kind": item.kind, **{
                k: labels.get(k) for k in ("title", "artist", "album", "genre", "composer",
                                           "date", "licence_tag")},
            "bpm": labels.get("bpm"), "bpm_source": srcs.get("bpm"),
            **{f"{k}_source": srcs.get(k) if labels.get(k) else None for k in LABEL_COLUMNS},
            "label_sources": {k: srcs[k] for k in sorted(srcs) if labels.get(k) and k != "bpm"},
            "tag_sources": tag_src, "tags": sorted(tag_src),
            "licence": licence, "licence_source": lic_src,
            "module_text": module.get("module_text"), "text": module.get("module_text"),
            "is_loop": is_loop, "flag_reason": reason,
            "loop_features": part.get("loop_features"), "repaired": part.get("repaired"),
            **{k: part[k] for k in ("duration_s", "sample_rate", "channels", "format",
                                    "content_hash")}})
    _drop_constant_bpm(tracks, report)
    return tracks


def _drop_constant_bpm(tracks: list[dict[str, Any]], report: Any) -> None:
    by_pkg: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for t in tracks:
        if t["bpm"]:
            by_pkg[t["package"]].append(t)
    for pkg, ts in by_pkg.items():
        values = {t["bpm"] for t in ts}
        if len(ts) >= 3 and len(values) == 1:
            report.dropped_labels.append({"package": pkg, "label": "bpm",
                                          "reason": f"same value {ts[0]['bpm']!r} on all "
                                                    f"{len(ts)} tagged tracks"})
            for t in ts:
                t["bpm"] = t["bpm_source"] = None
    for t in tracks:
        t["tempo_bpm"] = _bpm(t["bpm"])
        if t["tempo_bpm"] is not None:
            t["label_sources"]["tempo_bpm"] = t["bpm_source"]


def manifest_rows(tracks: list[dict[str, Any]], manifest: str | os.PathLike, out: Path,
                  clip_s: float | None) -> pd.DataFrame:
    """Manifest rows: one per track (``clip_s`` None) or consecutive ``clip_s`` clips, as
    ``lyrebird data import`` makes them; paths relative to the manifest's folder."""
    base = Path(manifest).resolve().parent
    rows: list[dict[str, Any]] = []
    for t in tracks:
        audio = out / t["audio"]
        path = os.path.relpath(audio.absolute(), base)
        ls = dict(t["label_sources"])
        ls["tags"] = t["tag_sources"]
        common = {
            **{k: t.get(k) for k in COLUMNS if k in t},
            "path": path, "track_id": f"file:{t['content_hash'][:16]}",
            "collection": t["package"], "captions": [], "source_path": t["audio"],
            "label_sources": json.dumps(ls, ensure_ascii=False, sort_keys=True),
            "loop_features": json.dumps(t["loop_features"]) if t["loop_features"] else None,
            "duration_s": round(float(t["duration_s"]), 3)}
        spans = ([(0.0, round(float(t["duration_s"]), 3))] if clip_s is None else
                 [(round(k * clip_s, 3), round((k + 1) * clip_s, 3))
                  for k in range(int(t["duration_s"] // clip_s))])
        for s, e in spans:
            rows.append(common | {"start_s": s, "end_s": e, "clip_id":
                                  f"{t['content_hash'][:16]}_"
                                  f"{stable_hash(path, s) % 10**6:06d}"})
    df = pd.DataFrame(rows, columns=COLUMNS)
    df["is_loop"] = df["is_loop"].astype(bool)
    df["tempo_bpm"] = df["tempo_bpm"].astype(float)
    return df


__all__ = ["COLUMNS", "LABEL_COLUMNS", "assemble_tracks", "manifest_rows"]
