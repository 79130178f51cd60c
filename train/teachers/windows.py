"""Window-by-window teacher labels for distillation (``lyrebird teach MANIFEST --windows``).

Every track of a manifest split is decoded once at 16 kHz and cut into the teachers' native
windows (187 log-mel frames = 2.992 s, non-overlapping; window ``i`` starts at
``i * 2.992`` s of the (possibly sped-up) audio). Each teacher stores, per window, its tag
probabilities ``(n, 50)`` and its penultimate features (``(n, 200)`` musicnn, ``(n, 256)``
vgg), as float16. Optional augmented copies (``copies``) label the same track after a seeded
random chain: gain (−12…+6 dB), spectral tilt (±3 dB per octave around 1 kHz), white noise
(20–40 dB SNR) and a speed change (×0.97…1.03: a small pitch and time shift together); with
``voice`` > 0, a copy carries, with that probability, a synthetic sung line on top
(:mod:`lyrebird.train.teachers.singing`), so the teachers' vocal tags have something to label.

**Shards**: one ``.npz`` per (track, copy) under ``OUT/shards/``, named by a hash of the
track's path, span and the config, written atomically (:func:`lyrebird.core.atomic.
replaced_on_success`), so a killed run loses at most the track in progress and a re-run skips
every shard that exists. Arrays: ``<teacher>/probs``, ``<teacher>/feats``, ``starts_s``
``(n,)`` (seconds in the original track), and ``meta`` (JSON: row, path, span, copy,
augmentation parameters). ``OUT/index.parquet`` (one row per shard) and ``OUT/report.json``
(failures with reasons) are rewritten at the end. Labelling runs on one torch thread.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from lyrebird.core.atomic import replaced_on_success
from lyrebird.encoders import AudioError
from lyrebird.encoders.audio import load_audio, resample
from lyrebird.train.corpora.manifest import read_manifest, resolve_path

log = logging.getLogger("lyrebird.train")

SR = 16000
ALL_TEACHERS: tuple[str, ...] = ("MTT_musicnn", "MSD_musicnn", "MTT_vgg", "MSD_vgg")


@dataclass(frozen=True)
class WindowConfig:
    """What to label and how.

    Attributes:
        teachers: names in :data:`lyrebird.train.teachers.TEACHERS`.
        split: manifest split to label (``None``: every row).
        copies: augmented copies per track, besides the clean one (copy 0).
        voice: probability that an augmented copy also carries a synthetic sung line
            (0: never; the shards of a run with voice are named apart from those without).
        seed: seed of the augmentation draws (with the track and the copy).
        threads: torch CPU threads while labelling (one is fastest on a loaded machine).
    """

    teachers: tuple[str, ...] = ALL_TEACHERS
    split: str | None = "train"
    copies: int = 0
    voice: float = 0.0
    seed: int = 0
    threads: int = 1

    def __post_init__(self) -> None:
        if not 0.0 <= self.voice <= 1.0:
            raise ValueError(f"voice={self.voice}: expected a probability in [0, 1]")


@dataclass
class WindowReport:
    """What a run did: shards written and reused, windows, audio hours, failures, time."""

    out: str
    shards: int = 0
    written: int = 0
    reused: int = 0
    windows: int = 0
    audio_hours: float = 0.0
    seconds: float = 0.0
    failed: list[dict[str, str]] = field(default_factory=list)


def augment(wav: np.ndarray, sr: int, rng: np.random.Generator
            ) -> tuple[np.ndarray, dict[str, float]]:
    """A seeded augmentation of a ``(T,)`` float32 waveform at ``sr`` Hz → ``(T', )`` and its
    parameters: gain (dB), tilt (dB/octave around 1 kHz), noise SNR (dB), speed factor."""
    p = {"gain_db": float(rng.uniform(-12, 6)), "tilt_db_per_octave": float(rng.uniform(-3, 3)),
         "snr_db": float(rng.uniform(20, 40)), "speed": float(rng.uniform(0.97, 1.03))}
    x = np.asarray(wav, np.float64)
    spec = np.fft.rfft(x)
    f = np.maximum(np.fft.rfftfreq(len(x), 1 / sr), 20.0)
    spec *= 10 ** (p["tilt_db_per_octave"] * np.log2(f / 1000.0) / 20)
    x = np.fft.irfft(spec, n=len(x))
    rms = math.sqrt(float(np.mean(x**2))) if len(x) else 0.0
    x = x + rng.standard_normal(len(x)) * rms * 10 ** (-p["snr_db"] / 20)
    x = x * 10 ** (p["gain_db"] / 20)
    x = resample(np.clip(x, -1, 1).astype(np.float32), round(sr * p["speed"]), sr)
    return x.astype(np.float32), p


def augment_copy(wav: np.ndarray, sr: int, seed: int, voice: float = 0.0
                 ) -> tuple[np.ndarray, dict[str, Any]]:
    """Augmented copy ``seed`` of a ``(T,)`` float32 waveform at ``sr`` Hz → ``(T',)`` and its
    parameters: :func:`augment`, then, with probability ``voice``, a sung line on top
    (:func:`lyrebird.train.teachers.singing.overlay_voice`). The labeller and the trainers call
    this with the shard's seed and ``voice``, so they make the same audio."""
    rng = np.random.default_rng(seed)
    x, params = augment(wav, sr, rng)
    out: dict[str, Any] = dict(params)
    if voice > 0 and rng.random() < voice:
        from .singing import overlay_voice

        x, drawn = overlay_voice(x, sr, rng)
        out.update(drawn)
    return x, out


def copy_seed(shard: str) -> int:
    """The augmentation seed of the copy in shard ``shard`` (its name or key, hex)."""
    return int(shard[:8], 16)


def remake_copy(wav: np.ndarray, sr: int, shard: str, meta: Mapping[str, Any]
                ) -> tuple[np.ndarray, dict[str, Any]]:
    """The audio the teachers labelled in shard ``shard`` (its name; ``meta`` its metadata),
    made again from the clean ``(T,)`` waveform at ``sr`` Hz: :func:`augment_copy` with the
    shard's seed and the ``voice`` probability it was made with (0 for shards made before)."""
    return augment_copy(wav, sr, copy_seed(shard), float(meta.get("voice_p", 0.0) or 0.0))


def _window_s(tagger: Any) -> float:
    return tagger.window_frames * tagger.frontend.cfg.hop_length / tagger.sample_rate


def shard_key(path: str, start_s: float, end_s: float | None, copy: int,
              cfg: WindowConfig) -> str:
    """The shard name of one (track, copy) under ``cfg`` (hex)."""
    parts: list[Any] = [path, start_s, end_s, copy, list(cfg.teachers), cfg.seed, "v1"]
    if cfg.voice > 0 and copy > 0:
        parts.append({"voice": cfg.voice})
    blob = json.dumps(parts)
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


def label_waveform(taggers: Mapping[str, Any], wav: np.ndarray
                   ) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``{teacher: (probs (n, tags), feats (n, D))}`` float32 of a 16 kHz ``(T,)`` waveform,
    in each teacher's non-overlapping windows (all teachers are cut to the shortest count)."""
    out = {name: t._run(wav, SR, None) for name, t in taggers.items()}
    n = min(len(p) for p, _ in out.values())
    return {name: (p[:n], f[:n]) for name, (p, f) in out.items()}


def _label_track(taggers: Mapping[str, Any], wav: np.ndarray, copy: int, rng_seed: int,
                 win_s: float, voice: float = 0.0) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    params: dict[str, Any] = {}
    x = wav
    if copy > 0:
        x, params = augment_copy(wav, SR, rng_seed, voice)
    res = label_waveform(taggers, x)
    n = len(next(iter(res.values()))[0])
    speed = float(params.get("speed", 1.0))
    arrays = {"starts_s": (np.arange(n) * win_s * speed).astype(np.float32)}
    for name, (p, f) in res.items():
        arrays[f"{name}/probs"] = p.astype(np.float16)
        arrays[f"{name}/feats"] = f.astype(np.float16)
    return arrays, params


def label_windows(manifest: str | Path, out: str | Path, cfg: WindowConfig = WindowConfig(),
                  taggers: Mapping[str, Any] | None = None,
                  limit: int | None = None) -> WindowReport:
    """Label every window of every track of ``cfg.split`` (see the module docstring).

    Resumable: shards that exist are kept. ``taggers`` (tests): ``{name: tagger}`` with
    ``_run(wav, sr, hop) -> (probs, feats)``, ``window_frames``, ``frontend`` and
    ``sample_rate``; default: the shipped teachers. ``limit``: label at most this many new
    shards (then stop). A track that cannot be decoded is reported and skipped.
    """
    manifest, out = Path(manifest), Path(out)
    df = read_manifest(manifest)
    if cfg.split is not None:
        df = df[df["split"] == cfg.split]
    # tracks in a seeded random order, so that a run stopped early has labelled a sample of
    # every package rather than the first packages only (shard names do not depend on order)
    df = df.iloc[np.random.default_rng(cfg.seed).permutation(len(df))]
    shards = out / "shards"
    shards.mkdir(parents=True, exist_ok=True)
    rep = WindowReport(out=str(out))
    t0 = time.perf_counter()
    old = torch.get_num_threads()
    torch.set_num_threads(max(1, cfg.threads))
    index: list[dict[str, Any]] = []
    try:
        for row_i, r in df.iterrows():
            end = None if pd.isna(r.get("end_s")) else float(r["end_s"])
            start = float(r.get("start_s") or 0.0)
            keys = [shard_key(str(r["path"]), start, end, c, cfg) for c in range(cfg.copies + 1)]
            todo = [c for c, k in enumerate(keys) if not (shards / f"{k}.npz").is_file()]
            rep.reused += len(keys) - len(todo)
            index += [{"row": int(row_i), "path": str(r["path"]), "copy": c,
                       "shard": f"shards/{k}.npz"} for c, k in enumerate(keys)]
            if not todo or (limit is not None and rep.written >= limit):
                continue
            if taggers is None:
                from . import load_teacher

                taggers = {n: load_teacher(n) for n in cfg.teachers}
            path = resolve_path(manifest, str(r["path"]))
            try:
                wav = load_audio(path, SR, offset_s=start,
                                 duration_s=None if end is None else end - start)
            except (AudioError, OSError, ValueError) as e:
                rep.failed.append({"row": str(row_i), "path": str(path), "reason": str(e)})
                index = [x for x in index if x["row"] != int(row_i)]
                continue
            win_s = _window_s(next(iter(taggers.values())))
            for c in todo:
                if limit is not None and rep.written >= limit:
                    break
                arrays, params = _label_track(taggers, wav, c, copy_seed(keys[c]), win_s,
                                              cfg.voice)
                meta = {"row": int(row_i), "path": str(r["path"]), "start_s": start,
                        "end_s": end, "copy": c, "augment": params,
                        "voice_p": cfg.voice if c else 0.0,
                        "teachers": list(taggers), "window_s": win_s, "sample_rate": SR}
                with replaced_on_success(shards / f"{keys[c]}.npz") as tmp, \
                        open(tmp, "wb") as fh:
                    np.savez(fh, meta=np.array(json.dumps(meta)), **arrays)
                rep.written += 1
                rep.windows += len(arrays["starts_s"])
                rep.audio_hours += len(wav) / SR / 3600
    finally:
        torch.set_num_threads(old)
    rep.seconds = time.perf_counter() - t0
    done = [x for x in index if (out / x["shard"]).is_file()]
    rep.shards = len(done)
    with replaced_on_success(out / "index.parquet") as tmp:
        pd.DataFrame(done, columns=["row", "path", "copy", "shard"]).to_parquet(tmp, index=False)
    with replaced_on_success(out / "report.json") as tmp:
        Path(tmp).write_text(json.dumps(asdict(rep) | {"config": asdict(cfg)}, indent=1))
    return rep


def read_shard(path: str | Path) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """A shard's ``(meta, arrays)``; arrays as stored (float16 probabilities and features)."""
    with np.load(path) as z:
        meta = json.loads(str(z["meta"]))
        return meta, {k: z[k] for k in z.files if k != "meta"}


__all__ = ["ALL_TEACHERS", "WindowConfig", "WindowReport", "augment", "augment_copy", "copy_seed",
           "label_waveform", "label_windows", "read_shard", "remake_copy", "shard_key"]
