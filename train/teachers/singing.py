"""A synthetic sung line, for augmented copies that carry a voice (``lyrebird teach --windows
--copies N --voice P``).

The train split's real recordings (game music) hold almost no singing, so the teachers' vocal
tags ("female vocal", "male vocal", "singing", …) have nothing to be distilled from. A copy may
therefore get a sung melody laid over it: a source–filter voice (a glottal-like harmonic
source with vibrato, jitter and breath noise, shaped by the formants of five vowels, female or
male), syllables of 0.2–0.9 s on a major or minor scale with a short consonant burst and a
glide between notes. The teachers then label the mixture as they hear it; nothing here says
what it is.

Everything is seeded by the ``rng`` passed in, so the trainers make the same audio again from
the shard's seed (:func:`lyrebird.train.teachers.windows.remake_copy`).
"""

from __future__ import annotations

import math

import numpy as np

# (F1..F4 Hz, bandwidths Hz) of five vowels, adult female (Peterson & Barney-like averages)
VOWELS: dict[str, tuple[tuple[float, ...], tuple[float, ...]]] = {
    "a": ((850, 1220, 2810, 3800), (90, 110, 170, 250)),
    "e": ((560, 2320, 2950, 3900), (70, 100, 170, 250)),
    "i": ((310, 2790, 3310, 4200), (50, 100, 170, 250)),
    "o": ((500, 900, 2830, 3700), (70, 100, 170, 250)),
    "u": ((370, 950, 2670, 3600), (50, 100, 170, 250)),
}
MALE_FORMANT_SCALE = 0.85
"""Male formants: the female ones × 0.85 (a longer vocal tract)."""

REGISTERS: dict[str, tuple[float, float]] = {"female": (196.0, 392.0), "male": (98.0, 196.0)}
"""Tonic range per register, Hz; melodies span an octave above the tonic."""

_MAJOR = (0, 2, 4, 5, 7, 9, 11, 12)
_MINOR = (0, 2, 3, 5, 7, 8, 10, 12)


def _formant_gain(f: np.ndarray, formants: tuple[float, ...], bws: tuple[float, ...]
                  ) -> np.ndarray:
    g = np.zeros_like(f)
    for F, B, amp in zip(formants, bws, (1.0, 0.7, 0.35, 0.2), strict=True):
        g += amp / np.sqrt(1.0 + ((f - F) / (B / 2.0)) ** 2)
    return g


def sing(seconds: float, sr: int, rng: np.random.Generator, register: str = "female"
         ) -> np.ndarray:
    """A sung melody ``(round(seconds * sr),)`` float32, peak 1 (silent gaps between phrases).

    ``register``: ``"female"`` or ``"male"`` (:data:`REGISTERS`); ``sr`` in Hz (≥ 8000)."""
    if register not in REGISTERS:
        raise ValueError(f"register {register!r}: expected one of {sorted(REGISTERS)}")
    if sr < 8000 or seconds <= 0:
        raise ValueError(f"sing: sr {sr} Hz must be ≥ 8000 and seconds {seconds} > 0")
    n = int(round(seconds * sr))
    out = np.zeros(n)
    lo, hi = REGISTERS[register]
    tonic = math.exp(rng.uniform(math.log(lo), math.log(hi)))
    scale = _MAJOR if rng.random() < 0.5 else _MINOR
    fscale = 1.0 if register == "female" else MALE_FORMANT_SCALE
    vib_rate, vib_depth = rng.uniform(4.5, 6.5), rng.uniform(0.01, 0.03)
    tilt = rng.uniform(1.0, 1.6)  # source roll-off: amplitude ∝ h^-tilt
    t0, prev_f = 0, None
    while t0 < n:
        u = rng.random()
        if u < 0.12:  # a breath between phrases, now and then an instrumental break
            t0 += int((rng.uniform(2.0, 8.0) if u < 0.02 else rng.uniform(0.2, 0.6)) * sr)
            prev_f = None
            continue
        dur = min(int(rng.uniform(0.2, 0.9) * sr), n - t0)
        if dur < int(0.05 * sr):
            break
        f0 = tonic * 2 ** (int(rng.choice(scale)) / 12)
        forms, bws = VOWELS[str(rng.choice(list(VOWELS)))]
        forms = tuple(x * fscale for x in forms)
        t = np.arange(dur) / sr
        glide = 1.0 if prev_f is None else (prev_f / f0) ** np.exp(-t / 0.04)
        vib = 1 + vib_depth * np.sin(2 * np.pi * vib_rate * t) * np.clip(t / 0.25, 0, 1)
        jit = 1 + 0.004 * np.cumsum(rng.standard_normal(dur)) / math.sqrt(sr)
        inst = f0 * glide * vib * jit
        phase = 2 * np.pi * np.cumsum(inst) / sr
        sig = np.zeros(dur)
        for h in range(1, 80):
            fh = inst * h
            if fh.mean() > min(0.45 * sr, 7000):
                break
            sig += h ** -tilt * _formant_gain(fh, forms, bws) * np.sin(h * phase + rng.uniform(0, 6.3))
        env = np.clip(t / 0.03, 0, 1) * np.clip((dur / sr - t) / 0.06, 0, 1)
        rms = math.sqrt(float(np.mean(sig**2))) + 1e-9
        sig = (sig + 0.03 * rms * rng.standard_normal(dur)) * env
        b = min(int(rng.uniform(0.01, 0.05) * sr), dur)  # consonant: a short noise burst
        sig[:b] += 0.5 * rms * rng.standard_normal(b) * np.linspace(1, 0, b)
        out[t0:t0 + dur] += sig
        prev_f = f0
        t0 += dur + int(rng.uniform(0.0, 0.08) * sr)
    peak = float(np.abs(out).max())
    return (out / peak if peak > 0 else out).astype(np.float32)


def overlay_voice(wav: np.ndarray, sr: int, rng: np.random.Generator
                  ) -> tuple[np.ndarray, dict[str, float | str]]:
    """``wav`` ``(T,)`` float32 at ``sr`` Hz with a sung line laid over it → ``(T,)`` float32
    and the draw: register, voice-to-music level (dB, −6…+6, RMS over the sung parts)."""
    register = "female" if rng.random() < 0.5 else "male"
    level_db = float(rng.uniform(-6.0, 6.0))
    v = sing(len(wav) / sr, sr, rng, register)[: len(wav)]
    x = np.asarray(wav, np.float64)
    music_rms = math.sqrt(float(np.mean(x**2))) if len(x) else 0.0
    sung = np.abs(v) > 1e-4
    v_rms = math.sqrt(float(np.mean(v[sung] ** 2))) if sung.any() else 0.0
    if music_rms < 1e-5 or v_rms == 0.0:  # silence: the voice alone at −20 dBFS RMS
        gain = 0.1 / max(v_rms, 1e-9)
    else:
        gain = music_rms * 10 ** (level_db / 20) / v_rms
    y = x + gain * v
    peak = float(np.abs(y).max())
    if peak > 1.0:
        y /= peak
    return y.astype(np.float32), {"voice": register, "voice_db": level_db}


__all__ = ["MALE_FORMANT_SCALE", "REGISTERS", "VOWELS", "overlay_voice", "sing"]
