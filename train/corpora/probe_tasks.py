"""Offline probe tasks derived from the demo corpus, each split train/valid/test by work.

Tasks (one manifest each under ``OUT/probes/``, with a ``label`` column):

- ``key``: 24 classes (12 tonics × major/minor), exact-key clips only;
- ``instrument_family``: clips whose instruments all share one family;
- ``tempo``: regression on ``tempo_bpm`` (``label``) with 4 buckets (``label_bucket``);
- ``collection``: source collection / style;
- ``tagging``: multi-label (``labels``) over tags with enough training examples;
- ``pitch``: single notes rendered across each instrument's range (as NSynth), 4 s each, split
  by instrument so test instruments are unseen.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from lyrebird.core.fingerprint import stable_hash

from .instruments import INSTRUMENTS
from .keys import is_24_class
from .manifest import read_manifest, write_manifest

TEMPO_BUCKETS: tuple[tuple[str, float], ...] = (("slow", 80.0), ("moderate", 115.0),
                                                ("fast", 150.0), ("very fast", float("inf")))
"""Tempo buckets: name and upper bound in beats per minute (exclusive)."""

PITCH_NOTE_S = 3.0  # note held, seconds
PITCH_CLIP_S = 4.0  # clip length (note plus release), seconds
PITCH_RANGE = (21, 108)  # MIDI pitches considered (piano range)


def tempo_bucket(bpm: float) -> str:
    """Name of the tempo bucket ``bpm`` (beats per minute) falls in."""
    for name, hi in TEMPO_BUCKETS:
        if bpm < hi:
            return name
    return TEMPO_BUCKETS[-1][0]


def _rel(manifest_dir: Path, task_dir: Path, path: str) -> str:
    """Re-express a corpus-relative audio path relative to the probe manifest's folder."""
    p = Path(path)
    if p.is_absolute():
        return str(p)
    return os.path.relpath(manifest_dir / p, task_dir)


def _task_frame(df: pd.DataFrame, mask: pd.Series, label: pd.Series, task: str) -> pd.DataFrame:
    keep = ["clip_id", "path", "start_s", "end_s", "split", "work_id", "collection", "captions",
            "tags"]
    out = df.loc[mask, [c for c in keep if c in df.columns]].copy()
    out["label"] = label[mask].values
    out["task"] = task
    return out.reset_index(drop=True)


def _describe(frame: pd.DataFrame, classification: bool = True) -> dict[str, Any]:
    d: dict[str, Any] = {"rows": len(frame),
                         "splits": {k: int(v) for k, v in frame["split"].value_counts().items()},
                         "works": int(frame["work_id"].nunique()) if len(frame) else 0}
    if classification and len(frame):
        d["classes"] = int(frame["label"].nunique())
    return d


def corpus_tasks(manifest: str | os.PathLike, out_dir: str | os.PathLike,
                 min_tag_train: int = 10) -> dict[str, dict[str, Any]]:
    """Write the five corpus-derived probe manifests; returns per-task row/class/split counts.

    ``min_tag_train``: a tag joins the tagging vocabulary when at least this many training clips
    carry it (lowered automatically for tiny corpora).
    """
    manifest = Path(manifest)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    df = read_manifest(manifest)
    df["path"] = [_rel(manifest.resolve().parent, out_dir.resolve(), p) for p in df["path"]]
    info: dict[str, dict[str, Any]] = {}
    frames: dict[str, pd.DataFrame] = {}

    exact = df["key_exact"].fillna(False).astype(bool) & df["mode"].map(is_24_class)
    frames["key"] = _task_frame(df, exact, df["key"], "key")
    fam = df["instrument_family"].fillna("mixed")
    frames["instrument_family"] = _task_frame(df, fam != "mixed", fam, "instrument_family")
    has_tempo = df["tempo_bpm"].notna()
    t = _task_frame(df, has_tempo, df["tempo_bpm"].astype(float), "tempo")
    t["label_bucket"] = [tempo_bucket(b) for b in t["label"]]
    frames["tempo"] = t
    frames["collection"] = _task_frame(df, df["collection"].notna(), df["collection"],
                                       "collection")
    train_tags = Counter(tag for tags, s in zip(df["tags"], df["split"], strict=True)
                         if s == "train" for tag in tags)
    n_train = int((df["split"] == "train").sum())
    need = min(min_tag_train, max(1, n_train // 20))
    vocab = sorted(tg for tg, n in train_tags.items() if n >= need and n < n_train)
    tg = _task_frame(df, df["tags"].map(len) > 0, df["tags"], "tagging")
    tg["labels"] = [[x for x in tags if x in set(vocab)] for tags in tg["label"]]
    tg = tg.drop(columns=["label"])
    frames["tagging"] = tg
    for name, frame in frames.items():
        path = write_manifest(frame, out_dir / f"{name}.parquet")
        info[name] = {"manifest": str(path), **_describe(
            frame, classification=name not in ("tempo", "tagging"))}
    info["tagging"]["vocabulary"] = vocab
    info["tempo"]["buckets"] = dict(Counter(frames["tempo"]["label_bucket"]))
    return info


def pitch_task(out_dir: str | os.PathLike, *, seed: int = 0, sample_rate: int = 22050,
               soundfont: str | None = None, n_instruments: int = 24,
               pitch_step: int = 1) -> dict[str, Any]:
    """Render single notes (NSynth-style) and write ``pitch.parquet``; cached when unchanged.

    Each of ``n_instruments`` GM instruments (spread over families, chosen by ``seed``) plays
    every ``pitch_step``-th MIDI pitch of its range within 21..108: a 3 s note in a 4 s clip,
    velocity 60, 90 or 120. The split is by instrument (``work_id = "note:<instrument>"``).
    """
    from lyrebird.core.progress import progress

    from .render import Note, RenderConfig, Renderer, rms_dbfs, set_level, write_flac
    from .splits import assign_splits

    out_dir = Path(out_dir)
    stamp = out_dir / "pitch.json"
    params = {"seed": seed, "sample_rate": sample_rate, "soundfont": soundfont,
              "n_instruments": n_instruments, "pitch_step": pitch_step, "version": 1}
    manifest = out_dir / "pitch.parquet"
    if stamp.is_file() and manifest.is_file():
        old = json.loads(stamp.read_text())
        if old.get("params") == params:
            return old["info"]
    by_family: dict[str, list[str]] = {}
    for name in sorted(INSTRUMENTS, key=lambda n: stable_hash(seed, "pitch", n)):
        by_family.setdefault(INSTRUMENTS[name].family, []).append(name)
    chosen: list[str] = []
    while len(chosen) < min(n_instruments, len(INSTRUMENTS)):  # round-robin over families
        for fam in sorted(by_family):
            if by_family[fam] and len(chosen) < n_instruments:
                chosen.append(by_family[fam].pop(0))
    splits = assign_splits({f"note:{n}": "pitch" for n in chosen}, seed, (0.8, 0.1, 0.1))
    if 3 <= len(chosen) < 10:  # too few for the 80/10/10 pattern: one valid, one test
        order = sorted(chosen, key=lambda n: stable_hash(seed, "pitch-split", n))
        splits = {f"note:{n}": "train" for n in order[:-2]}
        splits |= {f"note:{order[-2]}": "valid", f"note:{order[-1]}": "test"}
    rng = np.random.default_rng(stable_hash(seed, "pitch-velocity"))
    renderer = Renderer(RenderConfig(sample_rate=sample_rate, soundfont=soundfont))
    rows, skipped = [], []
    jobs = [(name, p) for name in chosen for p in range(
        max(PITCH_RANGE[0], INSTRUMENTS[name].low), min(PITCH_RANGE[1], INSTRUMENTS[name].high) + 1,
        pitch_step)]
    try:
        for name, pitch in progress(jobs, desc="pitch notes"):
            inst = INSTRUMENTS[name]
            vel = int(rng.choice([60, 90, 120]))
            wav = renderer.render([Note(0.0, PITCH_NOTE_S, pitch, vel, 0)],
                                  {0: (0, inst.program)}, PITCH_CLIP_S, preroll_s=0.0)
            if rms_dbfs(wav) < -80.0:
                skipped.append({"instrument": name, "pitch": pitch, "reason": "silent"})
                continue
            wav, _ = set_level(wav, -20.0)
            rel = f"pitch_audio/{name.replace(' ', '_')}/{pitch:03d}.flac"
            write_flac(out_dir / rel, wav, sample_rate)
            rows.append(dict(clip_id=f"note_{inst.program:03d}_{pitch:03d}", path=rel,
                             start_s=0.0, end_s=PITCH_CLIP_S, split=splits[f"note:{name}"],
                             work_id=f"note:{name}", captions=[], tags=[inst.family],
                             label=pitch, pitch=pitch, pitch_class=pitch % 12,
                             velocity=vel, instrument=name, instrument_family=inst.family,
                             task="pitch"))
    finally:
        renderer.close()
    frame = pd.DataFrame(rows)
    write_manifest(frame, manifest)
    info = {"manifest": str(manifest), **_describe(frame), "instruments": chosen,
            "skipped": skipped}
    stamp.write_text(json.dumps({"params": params, "info": info}, indent=1))
    return info


def build_probe_tasks(manifest: str | os.PathLike, out_dir: str | os.PathLike, *,
                      seed: int = 0, sample_rate: int = 22050, soundfont: str | None = None,
                      pitch_instruments: int = 24) -> dict[str, Any]:
    """All probe tasks: the five corpus-derived ones and the rendered pitch task."""
    info: dict[str, Any] = corpus_tasks(manifest, out_dir)
    if pitch_instruments > 0:
        info["pitch"] = pitch_task(out_dir, seed=seed, sample_rate=sample_rate,
                                   soundfont=soundfont, n_instruments=pitch_instruments)
    return info
