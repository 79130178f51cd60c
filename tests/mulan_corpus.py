"""A tiny captioned corpus for MuLan tests: three kinds of generated sound, captions in
English and German, MTT tags, and splits by work (written in the manifest format)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

KINDS = {
    # kind: (tags, English captions, German captions)
    "low": (["slow", "piano", "classical"],
            ["a slow low piano tone", "calm deep piano"],
            ["ein langsamer tiefer Klavierton", "ruhiges tiefes Klavier"]),
    "high": (["fast", "synth", "electronic"],
             ["a fast high synth melody", "bright electronic synth"],
             ["eine schnelle hohe Synthesizer-Melodie", "heller elektronischer Synthesizer"]),
    "noise": (["drums", "beat", "loud"],
              ["loud noisy drum beats", "a pounding drum groove"],
              ["laute rauschende Trommelschläge", "ein stampfender Schlagzeug-Groove"]),
}


def render(kind: str, rng: np.random.Generator, sr: int, seconds: float) -> np.ndarray:
    """One clip of ``kind`` as float32 ``(T,)``."""
    t = np.arange(int(sr * seconds)) / sr
    if kind == "low":
        f = rng.uniform(80, 160)
        x = sum(0.3 / k * np.sin(2 * np.pi * f * k * t) for k in range(1, 4)) * np.exp(-t % 1.5)
    elif kind == "high":
        f = rng.uniform(900, 1800) * (1 + 0.3 * (np.floor(t * 8) % 3))
        x = 0.3 * np.sign(np.sin(2 * np.pi * np.cumsum(f) / sr))
    else:
        env = np.exp(-(t * 4 % 1.0) * 12)
        x = 0.5 * rng.standard_normal(len(t)) * env
    return x.astype(np.float32)


def make_corpus(root: Path, per_kind: int = 8, sr: int = 16000, seconds: float = 4.0,
                seed: int = 0) -> Path:
    """Write ``3 * per_kind`` FLAC clips and ``manifest.parquet``; returns the manifest path.

    Works are ``<kind>-<i>``; the last two works of each kind are the test split, the one
    before them valid, the rest train.
    """
    import pandas as pd

    from lyrebird.train.corpora.manifest import write_manifest

    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    rows = []
    for kind, (tags, en, de) in KINDS.items():
        for i in range(per_kind):
            name = f"{kind}-{i}.flac"
            sf.write(root / name, render(kind, rng, sr, seconds), sr)
            split = "test" if i >= per_kind - 2 else "valid" if i == per_kind - 3 else "train"
            caps = [{"lang": "en", "text": c} for c in en] + [{"lang": "de", "text": c}
                                                               for c in de]
            rows.append({"path": name, "start_s": 0.0, "end_s": seconds, "split": split,
                         "work_id": f"{kind}-{i}", "captions": caps, "tags": list(tags),
                         "clip_id": f"{kind}-{i}"})
    return write_manifest(pd.DataFrame(rows), root / "manifest.parquet")
