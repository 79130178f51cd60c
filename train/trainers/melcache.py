"""Spectrogram cache for training: every clip of a manifest decoded once, stored as fp16 mels.

Layout of a cache directory:

* ``mels.f16``: all spectrograms, ``(sum of frames, n_mels)`` float16, frame-major;
* ``index.parquet``: one row per cached clip (``path``, ``start_s``, ``end_s``, ``split``,
  ``offset`` and ``frames`` into ``mels.f16``, plus the manifest row number);
* ``meta.json``: the mel config, the source, and the files skipped with their reasons.

The cache lives next to the manifest under ``.cache/`` (git-ignored) and is keyed by the mel
config and the manifest's size and modification time, so a changed manifest rebuilds it.
Unreadable clips are skipped and reported; the build never aborts on one bad file.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from lyrebird.core.atomic import replaced_on_success
from lyrebird.core.configs import config_to_dict
from lyrebird.core.progress import progress
from lyrebird.encoders import (
    AudioError,
    MelConfig,
    MelFrontend,
    audio_info,
    is_audio_path,
    load_audio,
)

log = logging.getLogger("lyrebird.train")


def read_clip_table(source: str | os.PathLike) -> pd.DataFrame:
    """Clips to train on: a manifest (parquet/CSV) or a folder of audio (one row per file).

    Returns a frame with absolute ``path``, ``start_s``, ``end_s`` and ``split`` columns
    (``split`` defaults to ``"train"``; a folder gets whole tracks).
    """
    src = Path(source)
    if src.is_dir():
        files = sorted(p for p in src.rglob("*") if p.is_file() and is_audio_path(p))
        rows = []
        for p in files:
            try:
                rows.append({"path": str(p.resolve()), "start_s": 0.0,
                             "end_s": audio_info(p).duration_s, "split": "train"})
            except AudioError as e:
                log.warning("skipping %s", e)
        if not rows:
            raise ValueError(f"'{source}': no readable audio files found")
        return pd.DataFrame(rows)
    if not src.is_file():
        raise FileNotFoundError(f"'{source}': no such manifest file or audio folder")
    df = pd.read_parquet(src) if src.suffix == ".parquet" else pd.read_csv(src)
    if "path" not in df.columns:
        raise ValueError(f"'{source}': manifest has no 'path' column")
    df = df.copy()
    df["path"] = [str(p if Path(p).is_absolute() else (src.parent / p).resolve())
                  for p in df["path"]]
    if "start_s" not in df.columns:
        df["start_s"] = 0.0
    if "end_s" not in df.columns:
        df["end_s"] = np.nan
    if "split" not in df.columns:
        df["split"] = "train"
    return df.reset_index(drop=True)


def _key(source: Path, cfg: MelConfig) -> str:
    """Cache key: the mel config plus the identity of the source's content.

    A manifest counts by path, size and modification time; a folder by its audio files' paths,
    sizes and modification times (the folder's own mtime changes when ``.cache`` appears in it).
    """
    if source.is_dir():
        files = sorted(p for p in source.rglob("*") if p.is_file() and is_audio_path(p)
                       and ".cache" not in p.parts)
        ident = [(str(p.relative_to(source)), p.stat().st_size, p.stat().st_mtime_ns) for p in files]
    else:
        st = source.stat()
        ident = [st.st_size, st.st_mtime_ns]
    blob = json.dumps([str(source.resolve()), ident, config_to_dict(cfg)])
    return hashlib.sha1(blob.encode()).hexdigest()[:12]


@dataclass
class MelCache:
    """Read access to a built cache. ``mels`` is a read-only memmap ``(frames, n_mels)``."""

    directory: Path
    index: pd.DataFrame
    mels: np.ndarray
    cfg: MelConfig

    def __post_init__(self) -> None:
        self._offset = self.index["offset"].to_numpy(np.int64) if len(self.index) else np.zeros(0, np.int64)
        self._frames = self.index["frames"].to_numpy(np.int64) if len(self.index) else np.zeros(0, np.int64)

    def frames(self, i: int) -> int:
        """Number of frames of cached clip ``i``."""
        return int(self._frames[i])

    def clip(self, i: int) -> np.ndarray:
        """Spectrogram of cached clip ``i`` as ``(n_mels, frames)`` float16."""
        o = self._offset[i]
        return self.mels[o : o + self._frames[i]].T

    def split(self, name: str) -> np.ndarray:
        """Positions (into ``index``) of the clips of split ``name``."""
        return np.flatnonzero(self.index["split"].to_numpy() == name)

    @classmethod
    def open(cls, directory: str | os.PathLike) -> MelCache:
        d = Path(directory)
        meta = json.loads((d / "meta.json").read_text())
        cfg = MelConfig.from_dict(meta["mel"])
        index = pd.read_parquet(d / "index.parquet")
        total = int(index["frames"].sum()) if len(index) else 0
        mels = np.memmap(d / "mels.f16", dtype=np.float16, mode="r", shape=(total, cfg.n_mels))
        return cls(d, index, mels, cfg)


def build_mel_cache(source: str | os.PathLike, cfg: MelConfig,
                    cache_root: str | os.PathLike | None = None,
                    max_clip_s: float = 600.0) -> MelCache:
    """Decode every clip of ``source`` (manifest or folder) into a :class:`MelCache`.

    ``cfg`` is applied without frame stacking (consumers stack). Clips longer than
    ``max_clip_s`` seconds are truncated to bound memory. Reuses an existing complete cache.
    """
    src = Path(source)
    cfg = dataclasses.replace(cfg, stack=1)
    root = Path(cache_root) if cache_root else (src if src.is_dir() else src.parent) / ".cache"
    d = root / f"mel-{_key(src, cfg)}"
    if (d / "meta.json").is_file():
        return MelCache.open(d)
    d.mkdir(parents=True, exist_ok=True)
    table = read_clip_table(src)
    fe = MelFrontend(cfg)
    rows, skipped, offset = [], [], 0
    # Private temporary files, renamed into place: concurrent builds of one cache (two trainings
    # started together) each write their own and the last rename wins (the results are
    # identical); an interrupted build leaves nothing behind. meta.json goes last: its presence
    # marks a complete cache.
    with replaced_on_success(d / "mels.f16") as tmp, open(tmp, "wb") as out, \
            torch.inference_mode():
        for r in progress(list(table.itertuples()), desc=f"mel cache {src.name}"):
            i = r.Index
            start = float(r.start_s) if pd.notna(r.start_s) else 0.0
            dur = float(r.end_s) - start if pd.notna(r.end_s) else None
            dur = max_clip_s if dur is None else min(dur, max_clip_s)
            try:
                wav = load_audio(r.path, cfg.sample_rate, offset_s=start, duration_s=dur)
                if len(wav) <= cfg.n_fft // 2:
                    raise AudioError(r.path, f"clip of {len(wav)} samples is too short")
                m = fe(torch.from_numpy(wav))[0].T.contiguous().numpy().astype(np.float16)
            except AudioError as e:
                skipped.append({"row": int(i), "path": r.path, "reason": str(e)})
                continue
            out.write(m.tobytes())
            rows.append({"row": int(i), "path": r.path, "start_s": start,
                         "end_s": start + len(wav) / cfg.sample_rate, "split": r.split,
                         "offset": offset, "frames": len(m)})
            offset += len(m)
        out.flush()
        os.fsync(out.fileno())
        if not rows:
            raise ValueError(f"'{source}': no clip could be decoded; first errors: {skipped[:3]}")
    for s in skipped:
        log.warning("mel cache: skipped row %d: %s", s["row"], s["reason"])
    meta = {"mel": config_to_dict(cfg), "source": str(src.resolve()), "skipped": skipped}
    with replaced_on_success(d / "index.parquet") as tmp:
        pd.DataFrame(rows).to_parquet(tmp)
    with replaced_on_success(d / "meta.json") as tmp:
        Path(tmp).write_text(json.dumps(meta, indent=2))
    return MelCache.open(d)


def crop(mel: np.ndarray, start: int, frames: int, pad_value: float) -> np.ndarray:
    """``(F, T)`` → ``(F, frames)`` from ``start``; pads with ``pad_value`` past the end."""
    out = np.full((mel.shape[0], frames), pad_value, dtype=np.float32)
    seg = mel[:, start : start + frames]
    out[:, : seg.shape[1]] = seg
    return out


class TwoViewDataset(torch.utils.data.Dataset):
    """Two random ``clip_frames`` crops of the same clip: a contrastive positive pair.

    Long clips (whole tracks) are split into windows of ``window_frames`` so that each minute
    of music is sampled as often, whatever the track length; both views of an item come from
    the same window. Crops are drawn from a generator seeded by ``(seed, epoch, index)``, so an
    epoch is reproducible. Returns ``(view1, view2)``, each ``(n_mels, clip_frames)`` float32.
    """

    def __init__(self, cache: MelCache, positions: np.ndarray, clip_frames: int, seed: int = 0,
                 window_frames: int | None = None):
        self.cache, self.frames, self.seed = cache, clip_frames, seed
        self.epoch = 0
        self.pad = float(np.log(cache.cfg.log_eps)) if cache.cfg.compression == "log" else 0.0
        win = window_frames or int(30 * cache.cfg.frame_rate)
        items = []  # (cache position, first frame, frames in window)
        for p in positions:
            n = cache.frames(int(p))
            k = max(1, round(n / win))
            edges = np.linspace(0, n, k + 1).astype(int)
            items += [(int(p), int(a), int(b - a)) for a, b in itertools.pairwise(edges)]
        self.items = items

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        pos, first, n = self.items[i]
        mel = self.cache.clip(pos)[:, first : first + n]
        rng = np.random.default_rng([self.seed, self.epoch, i])
        hi = max(1, n - self.frames + 1)
        a, b = rng.integers(0, hi, size=2)
        return (torch.from_numpy(crop(mel, a, self.frames, self.pad)),
                torch.from_numpy(crop(mel, b, self.frames, self.pad)))
