"""Loops, ambience and repeated audio: a simple, documented detector.

Game packages ship music next to ambience beds (wind, rooms) and short loops. Each track is
described by a few numbers from 40 log-spaced band energies (60 Hz – 5 kHz) of its audio at
11,025 Hz, in 186 ms frames every 46 ms:

* ``flatness`` — median spectral flatness (100 Hz – 4 kHz) of the audible frames: rain and
  surf are noise (0.3+), most music is tonal (below 0.05) but distorted metal and noisy
  electronica reach 0.3 too, so flatness only counts together with low flux;
* ``flux`` — mean positive spectral flux (log10 energy rise per band and frame, after 4-frame
  smoothing): music has onsets and changing harmony; wind and room tones barely change;
* ``repeat_sim`` at ``repeat_lag_s`` — the best mean cosine similarity between frame ``t`` and
  frame ``t + lag`` (features smoothed over 0.74 s and centred per band) over lags from ``min_lag_s`` up to the point
  where the overlap is ``min_cover`` of the track: about 1.0 when the second part of the file
  is a copy of the first (a loop written out twice), 0.3–0.7 for ordinary songs with repeated
  choruses.

:func:`classify` turns them into ``(is_loop, flag_reason)``: short (< ``short_s``), ambience
(flux below ``ambience_flux``; flux below ``ambience_noise_flux`` with flatness above
``ambience_flatness``; or flux below ``ambience_name_flux`` with an ambience word such as
"wind" or "ambience" in the name), or repeats (``repeat_sim >= repeat_sim`` over at least
``min_cover`` of the track). Flagged tracks stay in the manifest with the reason.
"""

from __future__ import annotations

import os
import re
from dataclasses import asdict, dataclass

import numpy as np

SR = 11025
N_FFT = 2048
HOP = 512
N_BANDS = 40


@dataclass(frozen=True)
class LoopConfig:
    """Thresholds of :func:`classify` (see the module docstring)."""

    short_s: float = 30.0
    ambience_flux: float = 0.02
    ambience_noise_flux: float = 0.04
    ambience_flatness: float = 0.25
    ambience_name_flux: float = 0.04
    repeat_sim: float = 0.95
    min_lag_s: float = 8.0
    min_cover: float = 0.4


@dataclass(frozen=True)
class LoopFeatures:
    """What :func:`loop_features` measures on one track."""

    duration_s: float
    flux: float
    flatness: float
    repeat_sim: float
    repeat_lag_s: float | None
    level_db: float

    def to_dict(self) -> dict[str, float | None]:
        """The features as a plain dict (for JSON)."""
        return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in asdict(self).items()}


def _band_matrix(sr: int = SR, n_fft: int = N_FFT, n_bands: int = N_BANDS) -> np.ndarray:
    freqs = np.fft.rfftfreq(n_fft, 1.0 / sr)
    edges = np.geomspace(60.0, 5000.0, n_bands + 1)
    m = np.zeros((len(freqs), n_bands), np.float32)
    for b in range(n_bands):
        sel = (freqs >= edges[b]) & (freqs < edges[b + 1])
        if not sel.any():
            sel = np.abs(freqs - np.sqrt(edges[b] * edges[b + 1])) == np.abs(
                freqs - np.sqrt(edges[b] * edges[b + 1])).min()
        m[sel, b] = 1.0 / sel.sum()
    return m


def _read_mono(path: str | os.PathLike, sr: int = SR) -> np.ndarray:
    """The whole file as mono float32 at ``sr`` (quick soxr resampling: features only)."""
    import soundfile as sf
    import soxr

    parts = []
    with sf.SoundFile(str(path)) as f:
        native = f.samplerate
        rs = None if native == sr else soxr.ResampleStream(native, sr, 1, dtype="float32",
                                                           quality="QQ")
        while True:
            block = f.read(native * 30, dtype="float32", always_2d=True)
            last = len(block) < native * 30
            mono = block.mean(axis=1).astype(np.float32)
            parts.append(mono if rs is None else rs.resample_chunk(mono, last=last))
            if last:
                break
    return np.concatenate(parts) if parts else np.zeros(0, np.float32)


def band_energies(wav: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(frames, 40)`` log10 band energies of a mono 11,025 Hz signal, and each frame's
    spectral flatness (geometric / arithmetic mean power, 100 Hz – 4 kHz)."""
    if len(wav) < N_FFT:
        wav = np.pad(wav, (0, N_FFT - len(wav)))
    n = 1 + (len(wav) - N_FFT) // HOP
    idx = np.arange(N_FFT)[None, :] + HOP * np.arange(n)[:, None]
    window = np.hanning(N_FFT).astype(np.float32)
    bands = _band_matrix()
    out = np.empty((n, N_BANDS), np.float32)
    flat = np.empty(n, np.float32)
    lo, hi = int(100 * N_FFT / SR), int(4000 * N_FFT / SR)
    for s in range(0, n, 2048):  # bounded memory
        frames = wav[idx[s:s + 2048]] * window
        spec = np.abs(np.fft.rfft(frames, axis=1)) ** 2
        out[s:s + 2048] = np.log10(spec @ bands + 1e-9)
        mid = spec[:, lo:hi] + 1e-12
        flat[s:s + 2048] = np.exp(np.log(mid).mean(axis=1)) / mid.mean(axis=1)
    return out, flat


def _smooth(x: np.ndarray, k: int = 4) -> np.ndarray:
    if len(x) < k:
        return x
    c = np.cumsum(np.pad(x, ((1, 0), (0, 0))), axis=0)
    return (c[k:] - c[:-k]) / k


def features_from_bands(logE: np.ndarray, flatness: np.ndarray, duration_s: float,
                        cfg: LoopConfig = LoopConfig()) -> LoopFeatures:
    """:class:`LoopFeatures` from :func:`band_energies` output."""
    fps = SR / HOP
    energy = (10.0 ** logE).sum(axis=1)
    level = float(10 * np.log10(np.mean(energy) + 1e-12)) if len(logE) else -120.0
    audible = energy > 1e-3 * np.median(energy) if len(energy) else energy > 0
    flat = float(np.median(flatness[audible])) if audible.any() else 1.0
    sm = _smooth(logE)
    flux = float(np.mean(np.maximum(np.diff(sm, axis=0), 0.0))) if len(sm) > 1 else 0.0
    slow = _smooth(logE, 16)  # 0.74 s: a repeat that is not frame-aligned still matches
    x = slow - slow.mean(axis=0, keepdims=True)
    x /= np.linalg.norm(x, axis=1, keepdims=True) + 1e-9
    t = len(x)
    lo = int(cfg.min_lag_s * fps)
    hi = int(t * (1.0 - cfg.min_cover))
    best, best_lag = 0.0, None
    if hi > lo:
        nfft = 1 << int(np.ceil(np.log2(2 * t)))
        spec = np.fft.rfft(x, n=nfft, axis=0)
        r = np.fft.irfft((spec * spec.conj()).sum(axis=1).real, n=nfft)[:t]
        lags = np.arange(lo, hi + 1)
        sims = r[lags] / (t - lags)
        i = int(np.argmax(sims))
        best, best_lag = float(sims[i]), float(lags[i] / fps)
    return LoopFeatures(duration_s=float(duration_s), flux=flux, flatness=flat,
                        repeat_sim=best, repeat_lag_s=best_lag, level_db=level)


def loop_features(path: str | os.PathLike, cfg: LoopConfig = LoopConfig()) -> LoopFeatures:
    """Decode ``path`` and measure :class:`LoopFeatures`."""
    wav = _read_mono(path)
    return features_from_bands(*band_energies(wav), len(wav) / SR, cfg)


_AMBIENCE_WORDS = re.compile(r"(?i)(?<![a-z])(ambien(ce|t)|ambiance|atmo(s|sphere)?|wind|rain|"
                             r"birds?|crickets|room ?tone|drone|noise|water ?fall|waves)"
                             r"(?![a-z])")


def classify(feats: LoopFeatures | None, duration_s: float, name: str = "",
             cfg: LoopConfig = LoopConfig()) -> tuple[bool, str | None]:
    """``(is_loop, flag_reason)`` for a track (reason None when not flagged)."""
    if duration_s < cfg.short_s:
        return True, f"short: {duration_s:.1f} s < {cfg.short_s:.0f} s"
    if feats is None:
        return False, None
    if feats.flatness > cfg.ambience_flatness and feats.flux < cfg.ambience_noise_flux:
        return True, (f"ambience: static noise (flatness {feats.flatness:.3f} > "
                      f"{cfg.ambience_flatness}, flux {feats.flux:.4f} < "
                      f"{cfg.ambience_noise_flux})")
    if feats.flux < cfg.ambience_flux:
        return True, f"ambience: spectral flux {feats.flux:.4f} < {cfg.ambience_flux}"
    if feats.flux < cfg.ambience_name_flux and _AMBIENCE_WORDS.search(name.replace("_", " ")):
        return True, (f"ambience: name '{name}' and spectral flux {feats.flux:.4f} < "
                      f"{cfg.ambience_name_flux}")
    if feats.repeat_lag_s is not None and feats.repeat_sim >= cfg.repeat_sim:
        return True, (f"repeats: audio from {feats.repeat_lag_s:.1f} s on repeats the start "
                      f"(similarity {feats.repeat_sim:.3f} >= {cfg.repeat_sim})")
    return False, None


__all__ = ["LoopConfig", "LoopFeatures", "band_energies", "classify", "features_from_bands",
           "loop_features"]
