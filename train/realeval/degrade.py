"""The excerpt-identification query: a seeded 10 s excerpt of a track, resampled to 22,050 Hz,
re-encoded as Ogg Vorbis and given light white noise (30 dB SNR by default).

Every step is deterministic given the seed, so re-runs query with the same audio.
"""

from __future__ import annotations

import io

import numpy as np
import soundfile as sf

from lyrebird.encoders.audio import resample

QUERY_SR = 22_050
"""Sample rate of the degraded excerpt (a common re-encoding rate that no model runs at)."""


def excerpt_offset(n_samples: int, sr: int, seconds: float, rng: np.random.Generator) -> int:
    """A random start (in samples) for a ``seconds`` excerpt; 0 when the track is shorter."""
    n = int(round(seconds * sr))
    return int(rng.integers(0, n_samples - n + 1)) if n_samples > n else 0


def ogg_roundtrip(wav: np.ndarray, sr: int) -> np.ndarray:
    """Encode ``wav`` as Ogg Vorbis in memory (libsndfile) and decode it again."""
    buf = io.BytesIO()
    sf.write(buf, np.clip(wav, -1.0, 1.0).astype(np.float32), sr, format="OGG",
             subtype="VORBIS")
    buf.seek(0)
    out, _ = sf.read(buf, dtype="float32", always_2d=False)
    out = np.asarray(out, np.float32)
    if len(out) < len(wav):  # the codec may trim a few samples at the end
        out = np.pad(out, (0, len(wav) - len(out)))
    return out[: len(wav)]


def add_noise(wav: np.ndarray, snr_db: float, rng: np.random.Generator) -> np.ndarray:
    """White Gaussian noise scaled to ``snr_db`` against the signal power."""
    power = float(np.mean(np.square(wav, dtype=np.float64)))
    noise = rng.standard_normal(len(wav))
    noise *= np.sqrt(max(power, 1e-12) / 10 ** (snr_db / 10) / max(np.mean(noise ** 2), 1e-20))
    return (wav + noise).astype(np.float32)


def snr_db(clean: np.ndarray, noisy: np.ndarray) -> float:
    """Measured signal-to-noise ratio of ``noisy`` against ``clean`` in dB."""
    n = np.asarray(noisy, np.float64) - np.asarray(clean, np.float64)
    return float(10 * np.log10(np.mean(np.square(clean, dtype=np.float64))
                               / max(np.mean(n ** 2), 1e-30)))


def degrade(wav: np.ndarray, sr: int, rng: np.random.Generator, query_sr: int = QUERY_SR,
            snr: float | None = 30.0, codec: bool = True) -> np.ndarray:
    """``wav`` at ``sr`` → resampled to ``query_sr``, Ogg-Vorbis round-tripped, noised."""
    out = resample(np.asarray(wav, np.float32), sr, query_sr)
    if codec:
        out = ogg_roundtrip(out, query_sr)
    if snr is not None:
        out = add_noise(out, snr, rng)
    return out


def make_query(wav: np.ndarray, sr: int, seed: int, seconds: float = 10.0,
               query_sr: int = QUERY_SR, snr: float | None = 30.0, codec: bool = True
               ) -> tuple[np.ndarray, float]:
    """The degraded excerpt of one track (at ``query_sr``) and its start in seconds."""
    rng = np.random.default_rng(seed)
    off = excerpt_offset(len(wav), sr, seconds, rng)
    piece = wav[off: off + int(round(seconds * sr))]
    return degrade(piece, sr, rng, query_sr, snr, codec), off / sr


__all__ = ["QUERY_SR", "add_noise", "degrade", "excerpt_offset", "make_query", "ogg_roundtrip",
           "snr_db"]
