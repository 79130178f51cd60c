"""Label every clip of a manifest with the shipped teacher taggers (``lyrebird teach``).

Adds three columns to any manifest:

* ``teacher_probs``: JSON ``{teacher: {tag: probability}}`` — every tag of every teacher, the
  mean of its ≈3 s window sigmoids over the clip, rounded to 3 decimals;
* ``teacher_tags``: the tags at or above ``threshold`` for any teacher, most likely first
  (estimates: never a ground-truth label);
* ``teacher_source``: which teachers made them (``"musicnn 0.1.0 port: MTT_musicnn, ..."``).

The work is cut into parts of ``part_rows`` rows, each written (atomically) under
``<out>.teach/`` as it finishes, so an interrupted run resumes where it stopped and a complete
one returns at once. A clip longer than ``block_s`` is decoded block by block, so memory stays
bounded on hour-long files. A clip that cannot be decoded is reported and left without teacher
columns; the run goes on.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from lyrebird.core.atomic import replaced_on_success
from lyrebird.core.progress import progress
from lyrebird.encoders import AudioError, stream_audio
from lyrebird.train.corpora.manifest import read_manifest, resolve_path, write_manifest

from . import TEACHERS, load_teacher

log = logging.getLogger("lyrebird.train")

COLUMNS = ("teacher_probs", "teacher_tags", "teacher_source")
"""The columns :func:`annotate_manifest` adds."""


@dataclass(frozen=True)
class TeachConfig:
    """Which teachers label a manifest, and how.

    Attributes:
        teachers: names in :data:`lyrebird.train.teachers.TEACHERS`.
        threshold: probability at or above which a tag goes into ``teacher_tags``.
        part_rows: rows per resumable part.
        block_s: clips longer than this many seconds are decoded in blocks of this length.
        max_s: analyse at most this many seconds of a clip, as evenly spaced excerpts of
            ``excerpt_s`` seconds covering the whole clip (``None``: all of it). The clip's
            mean probability is then estimated from those windows.
        threads: torch CPU threads while labelling (restored after). One thread is the
            fastest per process for these small convolutions: two threads ran 8x slower on
            this 2-core machine under load. ``None`` keeps torch's setting.
    """

    teachers: tuple[str, ...] = ("MTT_musicnn", "MSD_musicnn")
    threshold: float = 0.3
    part_rows: int = 64
    block_s: float = 120.0
    max_s: float | None = None
    excerpt_s: float = 15.0
    threads: int | None = 1


@dataclass
class TeachReport:
    """What a run did: rows labelled, failures with reasons, audio hours and time."""

    out: str
    rows: int = 0
    labelled: int = 0
    reused_parts: int = 0
    failed: list[dict[str, str]] = field(default_factory=list)
    audio_hours: float = 0.0
    seconds: float = 0.0

    @property
    def hours_per_hour(self) -> float:
        """Audio hours labelled per wall-clock hour in this run (0 when nothing ran)."""
        return self.audio_hours / (self.seconds / 3600) if self.seconds > 0 else 0.0


def _blocks(path: Path, sr: int, start_s: float, dur: float | None, block_s: float,
            max_s: float | None, excerpt_s: float):
    """The clip's audio as blocks of at most ``block_s`` seconds: all of it, or (``max_s``)
    evenly spaced excerpts of ``excerpt_s`` seconds adding up to about ``max_s``."""
    if max_s is None:
        yield from stream_audio(path, sr, block_s=block_s, offset_s=start_s, duration_s=dur)
        return
    if dur is None:
        from lyrebird.encoders import audio_info

        dur = max(0.0, audio_info(path).duration_s - start_s)
    if dur <= max_s:
        yield from stream_audio(path, sr, block_s=block_s, offset_s=start_s, duration_s=dur)
        return
    k = max(1, math.ceil(max_s / excerpt_s))
    for j in range(k):
        at = start_s + (dur - excerpt_s) * (j + 0.5) / k
        yield from stream_audio(path, sr, block_s=block_s, offset_s=at, duration_s=excerpt_s)


def _clip_probs(taggers: dict, path: Path, start_s: float, end_s: float | None, block_s: float,
                max_s: float | None = None, excerpt_s: float = 15.0
                ) -> tuple[dict[str, np.ndarray], float]:
    """Mean window probabilities ``{teacher: (n_tags,)}`` of ``path[start_s:end_s]`` and its
    seconds. The clip is decoded once, block by block, at the teachers' common rate."""
    rates = {t.sample_rate for t in taggers.values()}
    if len(rates) != 1:
        raise ValueError(f"teachers run at different sample rates {sorted(rates)}; run them "
                         "separately")
    sr = rates.pop()
    dur = None if end_s is None or not math.isfinite(end_s) else max(0.0, end_s - start_s)
    sums: dict[str, np.ndarray] = {}
    n, seconds = dict.fromkeys(taggers, 0), 0.0
    for block in _blocks(path, sr, start_s, dur, block_s, max_s, excerpt_s):
        seconds += len(block) / sr
        for name, tagger in taggers.items():
            p = tagger.predict_windows(block, sr)
            sums[name] = p.sum(0) + sums.get(name, 0.0)
            n[name] += len(p)
    if not sums or min(n.values()) == 0:
        raise AudioError(path, "no audio in the clip")
    return {name: sums[name] / n[name] for name in taggers}, seconds


def _config_key(cfg: TeachConfig, manifest: pd.DataFrame) -> str:
    key = {k: v for k, v in dataclasses.asdict(cfg).items() if k != "threads"}  # same result
    blob = json.dumps([key, list(manifest["path"].astype(str)),
                       list(manifest["start_s"].astype(float)),
                       [None if pd.isna(e) else float(e) for e in manifest["end_s"]]])
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _run_parts(df: pd.DataFrame, manifest: Path, parts_dir: Path, n_parts: int,
               cfg: TeachConfig, report: TeachReport) -> list[pd.DataFrame]:
    """Label the parts not done yet (writing each as it finishes); all parts' results."""
    taggers = None
    results: list[pd.DataFrame] = []
    for k in progress(range(n_parts), total=n_parts, desc="teach"):
        part = parts_dir / f"part-{k:05d}.parquet"
        if part.is_file():
            results.append(pd.read_parquet(part))
            report.reused_parts += 1
            continue
        taggers = taggers or {name: load_teacher(name) for name in cfg.teachers}
        rows = []
        for i in range(k * cfg.part_rows, min(len(df), (k + 1) * cfg.part_rows)):
            r = df.iloc[i]
            path = resolve_path(manifest, str(r["path"]))
            end = None if pd.isna(r["end_s"]) else float(r["end_s"])
            try:
                raw, secs = _clip_probs(taggers, path, float(r["start_s"]), end, cfg.block_s,
                                        cfg.max_s, cfg.excerpt_s)
                probs = {name: {t: round(float(v), 3) for t, v in zip(taggers[name].tags, p,
                                                                      strict=True)}
                         for name, p in raw.items()}
            except (AudioError, OSError) as e:
                report.failed.append({"row": str(i), "path": str(path), "reason": str(e)})
                rows.append({"row": i, "teacher_probs": None})
                continue
            report.audio_hours += secs / 3600
            rows.append({"row": i, "teacher_probs": json.dumps(probs, ensure_ascii=False)})
        chunk = pd.DataFrame(rows, columns=["row", "teacher_probs"])
        with replaced_on_success(part) as tmp:
            chunk.to_parquet(tmp, index=False)
        results.append(chunk)
    return results


def annotate_manifest(manifest: str | os.PathLike, out: str | os.PathLike | None = None,
                      cfg: TeachConfig = TeachConfig()) -> TeachReport:
    """Add the teacher columns to ``manifest`` and write it to ``out`` (default: in place).

    Resumable (see the module docstring); bounded memory on any clip length. Returns a
    :class:`TeachReport`; raises ``ValueError`` for an unknown teacher.
    """
    for name in cfg.teachers:
        if name not in TEACHERS:
            raise ValueError(f"unknown teacher {name!r}; choose from {sorted(TEACHERS)}")
    if not 0 < cfg.threshold <= 1:
        raise ValueError(f"threshold must be in (0, 1], got {cfg.threshold}")
    manifest = Path(manifest)
    out = Path(out) if out is not None else manifest
    df = read_manifest(manifest)
    parts_dir = out.with_name(out.name + ".teach") / _config_key(cfg, df)
    parts_dir.mkdir(parents=True, exist_ok=True)
    report = TeachReport(out=str(out), rows=len(df))
    t0 = time.perf_counter()
    n_parts = max(1, math.ceil(len(df) / cfg.part_rows))
    old_threads = torch.get_num_threads()
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    try:
        results = _run_parts(df, manifest, parts_dir, n_parts, cfg, report)
    finally:
        torch.set_num_threads(old_threads)
    report.seconds = time.perf_counter() - t0
    done = pd.concat(results, ignore_index=True).set_index("row").reindex(range(len(df)))
    df = df.copy()
    df["teacher_probs"] = done["teacher_probs"].to_numpy()
    df["teacher_tags"] = [teacher_tags(p, cfg.threshold) for p in df["teacher_probs"]]
    source = f"musicnn 0.1.0 port: {', '.join(cfg.teachers)} (estimates)"
    df["teacher_source"] = [source if p is not None else None for p in df["teacher_probs"]]
    report.labelled = int(df["teacher_probs"].notna().sum())
    write_manifest(df, out)
    return report


def parse_teacher_probs(cell: object) -> dict[str, dict[str, float]]:
    """A ``teacher_probs`` cell as ``{teacher: {tag (lower case): probability}}``; an empty
    dict for a missing cell (``None``, NaN, empty string)."""
    if isinstance(cell, str):
        d = json.loads(cell) if cell else {}
    else:
        d = cell if isinstance(cell, dict) else {}
    return {str(name): {str(k).lower(): float(v) for k, v in (per or {}).items()}
            for name, per in d.items() if isinstance(per, dict)}


def teacher_tags(probs_json: str | None, threshold: float) -> list[str]:
    """Tags at or above ``threshold`` for any teacher in a ``teacher_probs`` cell, most likely
    first (a tag two teachers share is ranked by its larger probability)."""
    if probs_json is None or (isinstance(probs_json, float) and math.isnan(probs_json)):  # NaN: none
        return []
    best: dict[str, float] = {}
    for per_tag in json.loads(probs_json).values():
        for tag, p in per_tag.items():
            if p >= threshold:
                best[tag] = max(best.get(tag, 0.0), p)
    return [t for t, _ in sorted(best.items(), key=lambda kv: (-kv[1], kv[0]))]
