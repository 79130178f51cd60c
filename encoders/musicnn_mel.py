"""musicnn's log-mel front-end in float32 torch, without librosa at run time (the input of the musicnn
teachers, :mod:`lyrebird.train.teachers`, and of the distilled tag student,
:mod:`lyrebird.mulan.tag_student`).

musicnn (Pons & Serra, 2019) computes, at 16 kHz mono::

    S = librosa.feature.melspectrogram(y, sr=16000, n_fft=512, hop_length=256, n_mels=96)
    X = log10(10000 * S + 1)                       # (frames, 96), time first

i.e. a periodic Hann window, ``center=True`` framing (256 samples of padding each side; librosa
< 0.10 padded by reflection, which is what the models saw), |STFT|², Slaney-style mel filters
(``htk=False``, area-normalised, 0-8 kHz). The original casts ``S`` to float16 before the log,
which overflows to inf on ordinary loud music; this port stays in float32 throughout.

Long inputs are framed lazily: :meth:`LogMelFrontend.frames` computes any frame range from the
waveform without padding or copying the whole signal, so memory stays bounded by the range.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn


@dataclass(frozen=True)
class FrontendConfig:
    """Log-mel settings of the musicnn models (all fixed by training; change none to tag)."""

    sample_rate: int = 16000  # Hz
    n_fft: int = 512  # samples (32 ms); also the Hann window length
    hop_length: int = 256  # samples (16 ms) -> 62.5 frames/s
    n_mels: int = 96
    fmin: float = 0.0  # Hz
    fmax: float | None = None  # Hz; None = sample_rate / 2
    pad_mode: str = "reflect"  # centre padding: "reflect" (librosa < 0.10) or "constant"
    log_gain: float = 10000.0  # X = log10(log_gain * S + 1)

    def to_dict(self) -> dict:
        return asdict(self)


def _hz_to_mel_slaney(f: np.ndarray) -> np.ndarray:
    f = np.asarray(f, dtype=np.float64)
    f_sp, min_log_hz = 200.0 / 3, 1000.0
    min_log_mel, logstep = min_log_hz / f_sp, np.log(6.4) / 27.0
    lin = f / f_sp
    with np.errstate(divide="ignore"):
        log = min_log_mel + np.log(np.maximum(f, 1e-300) / min_log_hz) / logstep
    return np.where(f >= min_log_hz, log, lin)


def _mel_to_hz_slaney(m: np.ndarray) -> np.ndarray:
    m = np.asarray(m, dtype=np.float64)
    f_sp, min_log_hz = 200.0 / 3, 1000.0
    min_log_mel, logstep = min_log_hz / f_sp, np.log(6.4) / 27.0
    return np.where(m >= min_log_mel, min_log_hz * np.exp(logstep * (m - min_log_mel)), f_sp * m)


def slaney_mel_filterbank(sr: int, n_fft: int, n_mels: int, fmin: float = 0.0,
                          fmax: float | None = None) -> np.ndarray:
    """librosa's default mel filter bank (``htk=False, norm="slaney"``), computed in float64.

    Returns ``(n_mels, n_fft // 2 + 1)`` float32 weights: triangular filters on the Slaney mel
    scale (linear below 1 kHz, logarithmic above), each scaled by ``2 / bandwidth_hz`` so all
    filters have equal area. Equal to ``librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels)``.
    """
    fmax = sr / 2.0 if fmax is None else float(fmax)
    fft_freqs = np.fft.rfftfreq(n_fft, d=1.0 / sr)
    mel_pts = np.linspace(_hz_to_mel_slaney(fmin), _hz_to_mel_slaney(fmax), n_mels + 2)
    mel_f = _mel_to_hz_slaney(mel_pts)
    fdiff = np.diff(mel_f)
    ramps = np.subtract.outer(mel_f, fft_freqs)
    lower = -ramps[:-2] / fdiff[:-1, None]
    upper = ramps[2:] / fdiff[1:, None]
    weights = np.maximum(0.0, np.minimum(lower, upper))
    weights *= (2.0 / (mel_f[2:] - mel_f[:-2]))[:, None]
    return weights.astype(np.float32)


def num_frames(n_samples: int, hop_length: int = 256) -> int:
    """STFT frames of ``n_samples`` with ``center=True`` framing: ``1 + n_samples // hop``."""
    return 1 + n_samples // hop_length


class LogMelFrontend(nn.Module):
    """Waveform (16 kHz float32) → musicnn log-mel ``(frames, 96)``, float32, time first."""

    def __init__(self, cfg: FrontendConfig | None = None):
        super().__init__()
        self.cfg = cfg = cfg or FrontendConfig()
        if cfg.pad_mode not in ("reflect", "constant"):
            raise ValueError(f"pad_mode must be 'reflect' or 'constant', got {cfg.pad_mode!r}")
        fb = slaney_mel_filterbank(cfg.sample_rate, cfg.n_fft, cfg.n_mels, cfg.fmin, cfg.fmax)
        self.register_buffer("mel_fb", torch.from_numpy(fb.T.copy()), persistent=False)  # (F, M)
        self.register_buffer("window", torch.hann_window(cfg.n_fft, periodic=True,
                                                         dtype=torch.float32), persistent=False)

    def _padded(self, wav: np.ndarray, start: int, stop: int) -> np.ndarray:
        """Samples ``[start, stop)`` of the centre-padded signal (pad = n_fft // 2 each side)."""
        pad, n = self.cfg.n_fft // 2, len(wav)
        if n <= pad:  # short signal: numpy's (repeated) reflection, as librosa's np.pad did
            return np.pad(wav, pad, mode=self.cfg.pad_mode)[start:stop].astype(np.float32)
        if self.cfg.pad_mode == "reflect":
            left, right = wav[pad:0:-1], wav[-2:-pad - 2:-1]
        else:
            left = right = np.zeros(pad, dtype=np.float32)
        pieces = []
        for seg, off in ((left, 0), (wav, pad), (right, pad + n)):
            a, b = max(start, off), min(stop, off + len(seg))
            if a < b:
                pieces.append(seg[a - off:b - off])
        return np.concatenate(pieces).astype(np.float32, copy=False)

    @torch.no_grad()
    def frames(self, wav: np.ndarray, start: int = 0, stop: int | None = None) -> torch.Tensor:
        """Log-mel frames ``[start, stop)`` of ``wav`` → ``(stop - start, n_mels)`` float32.

        ``wav``: ``(T,)`` float32 mono at ``cfg.sample_rate`` Hz. Frame ``t`` is centred on
        sample ``t * hop_length``; there are :func:`num_frames` ``(T)`` frames in all.
        """
        cfg = self.cfg
        total = num_frames(len(wav), cfg.hop_length)
        stop = total if stop is None else min(stop, total)
        if not 0 <= start < stop:
            raise ValueError(f"empty frame range [{start}, {stop}) of {total} frames")
        seg = self._padded(wav, start * cfg.hop_length, (stop - 1) * cfg.hop_length + cfg.n_fft)
        x = torch.from_numpy(np.ascontiguousarray(seg)).to(self.window.device)
        spec = torch.stft(x, cfg.n_fft, cfg.hop_length, window=self.window, center=False,
                          return_complex=True)  # (F, frames)
        power = spec.real.square() + spec.imag.square()
        mel = power.transpose(0, 1) @ self.mel_fb  # (frames, M)
        return torch.log10(cfg.log_gain * mel + 1.0)

    def forward(self, wav: np.ndarray) -> torch.Tensor:
        """All log-mel frames of ``wav`` (``(T,)`` float32 at 16 kHz) → ``(frames, n_mels)``."""
        return self.frames(wav)


def float16_overflows(mel_power: np.ndarray, log_gain: float = 10000.0) -> bool:
    """True when musicnn's original ``float16`` cast would turn ``mel_power`` into inf/NaN.

    ``mel_power``: ``(frames, n_mels)`` mel power (before the log), any float dtype. Reproduces
    ``np.log10(log_gain * S.astype(np.float16) + 1)`` from ``musicnn.extractor.batch_data``.
    """
    with np.errstate(over="ignore", invalid="ignore"):
        x = np.log10(log_gain * np.asarray(mel_power).astype(np.float16) + 1)
    return not bool(np.isfinite(x).all())
