"""``lyrebird bench frontend``: Lyrebird's mel front-end against nnAudio and librosa.

All candidates compute the same mel power spectrogram of the same batch of audio, timed
round-robin in one process. Ratios > 1 mean Lyrebird is faster.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch

from lyrebird.bench.timing import interleaved_medians
from lyrebird.encoders.mel import MelFrontend, get_mel_config


def _music_like(n: int, sr: int, seed: int = 0) -> np.ndarray:
    """A deterministic chord-and-noise signal ``(n,)`` float32 at ``sr`` Hz."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) / sr
    x = sum(0.2 * np.sin(2 * np.pi * f * t) for f in (220.0, 277.2, 329.6, 440.0))
    return (x + 0.02 * rng.standard_normal(n)).astype(np.float32)


def bench_frontend(preset: str = "myna", seconds: float = 30.0, batch: int = 4,
                   repeats: int = 5) -> dict:
    """Time the ``preset`` mel power spectrogram of ``batch`` clips of ``seconds`` s each.

    Returns a dict with per-candidate median seconds, real-time factors (seconds of audio
    per second of compute) and ratios against Lyrebird, plus the max relative error of each
    candidate against Lyrebird's output.
    """
    cfg = get_mel_config(preset)
    raw = dataclasses.replace(cfg, compression="none", normalize=None, stack=1)
    sr = cfg.sample_rate
    wav = np.stack([_music_like(int(seconds * sr), sr, seed=i) for i in range(batch)])
    x = torch.from_numpy(wav)
    ours = MelFrontend(raw, stft="auto")
    ours_conv = MelFrontend(raw, stft="nnaudio")
    from nnAudio.features import MelSpectrogram

    nna = MelSpectrogram(sr=sr, n_fft=cfg.n_fft, n_mels=cfg.n_mels, hop_length=cfg.hop_length,
                         htk=cfg.htk, norm=1 if cfg.slaney_norm else None, fmin=cfg.fmin,
                         fmax=cfg.fmax, center=cfg.center, pad_mode=cfg.pad_mode,
                         verbose=False)
    cands = {
        "lyrebird (torch.stft)": lambda: ours(x),
        "lyrebird (nnAudio conv STFT)": lambda: ours_conv(x),
        "nnAudio MelSpectrogram": lambda: nna(x),
    }
    try:
        import librosa

        cands["librosa"] = lambda: librosa.feature.melspectrogram(
            y=wav, sr=sr, n_fft=cfg.n_fft, hop_length=cfg.hop_length, n_mels=cfg.n_mels,
            htk=cfg.htk, norm="slaney" if cfg.slaney_norm else None, fmin=cfg.fmin,
            fmax=cfg.fmax, center=cfg.center, pad_mode=cfg.pad_mode)
    except ImportError:
        pass
    with torch.inference_mode():
        ref = ours(x).numpy()
        errors = {}
        for name, fn in cands.items():
            out = np.asarray(fn())
            errors[name] = float(np.abs(out - ref).max() / np.abs(ref).max())
        med = interleaved_medians(cands, repeats=repeats)
    audio_s = seconds * batch
    base = med["lyrebird (torch.stft)"]
    return {
        "preset": preset, "audio_seconds": audio_s, "threads": torch.get_num_threads(),
        "results": {k: {"seconds": v, "realtime_x": audio_s / v, "lyrebird_speedup": v / base,
                        "max_rel_err_vs_lyrebird": errors[k]} for k, v in med.items()},
    }


def format_report(rep: dict) -> str:
    """Human-readable table of :func:`bench_frontend` output."""
    lines = [f"mel front-end '{rep['preset']}': {rep['audio_seconds']:.0f} s of audio, "
             f"{rep['threads']} threads",
             f"{'candidate':32s} {'median s':>9s} {'x realtime':>11s} {'lyrebird is':>12s} "
             f"{'max rel err':>12s}"]
    for k, r in rep["results"].items():
        lines.append(f"{k:32s} {r['seconds']:9.4f} {r['realtime_x']:11.0f} "
                     f"{r['lyrebird_speedup']:11.2f}x {r['max_rel_err_vs_lyrebird']:12.2e}")
    return "\n".join(lines)
