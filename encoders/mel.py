"""Mel-spectrogram front-ends: nnAudio filter banks on the fastest correct STFT for the device.

The filter banks come from nnAudio (the project's front-end dependency, also what the Myna
reference code uses). nnAudio computes its STFT as a 1-D convolution, which is several times
slower than an FFT on CPU, so the default ``stft="auto"`` uses ``torch.stft`` (cuFFT on CUDA,
pocketfft/MKL on CPU); ``stft="nnaudio"`` keeps the convolution for comparison.
``lyrebird bench frontend`` prints the ratio.

Output layout is ``(B, F, T)`` with ``F = n_mels * stack`` features and ``T`` frames at
:attr:`MelConfig.frame_rate` Hz.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from torch import nn

from lyrebird.core.configs import config_from_dict, config_to_dict


@dataclass(frozen=True)
class MelConfig:
    """A mel front-end. Units: Hz for rates and frequencies, samples for sizes.

    Attributes:
        sample_rate: input sample rate in Hz.
        n_fft: FFT size in samples.
        hop_length: frame hop in samples.
        win_length: Hann window length in samples (``None`` = ``n_fft``).
        n_mels: number of mel bands.
        fmin, fmax: band edges in Hz (``fmax=None`` = Nyquist).
        htk: HTK mel scale (``True``) or Slaney's (``False``).
        slaney_norm: area-normalise each triangle (librosa ``norm="slaney"``).
        power: exponent on the magnitude (2 = power spectrogram).
        center: pad by ``n_fft // 2`` on both sides so frame t is centred on sample t*hop.
        pad_mode: padding for ``center`` ("reflect" or "constant").
        compression: "none", "log" (``ln(x + log_eps)``) or "db" (``10 log10(max(x, 1e-10))``).
        log_eps: offset inside the natural log for "log".
        normalize: ``(mean, std)`` applied after compression, or ``None``.
        stack: stack this many consecutive frames into one (``F = n_mels * stack``).
    """

    sample_rate: int = 16000
    n_fft: int = 2048
    hop_length: int = 512
    win_length: int | None = None
    n_mels: int = 128
    fmin: float = 0.0
    fmax: float | None = None
    htk: bool = False
    slaney_norm: bool = True
    power: float = 2.0
    center: bool = True
    pad_mode: str = "reflect"
    compression: Literal["none", "log", "db"] = "none"
    log_eps: float = 1e-6
    normalize: tuple[float, float] | None = None
    stack: int = 1

    def __post_init__(self) -> None:
        if self.sample_rate <= 0 or self.hop_length <= 0 or self.n_fft <= 0:
            raise ValueError(f"MelConfig: sample_rate, hop_length and n_fft must be > 0: {self}")
        if self.compression not in ("none", "log", "db"):
            raise ValueError(f"MelConfig.compression must be none|log|db, got {self.compression!r}")
        if self.stack < 1:
            raise ValueError(f"MelConfig.stack must be >= 1, got {self.stack}")
        if self.normalize is not None and self.normalize[1] <= 0:
            raise ValueError(f"MelConfig.normalize std must be > 0, got {self.normalize}")

    @property
    def frame_rate(self) -> float:
        """Output frames per second (after stacking)."""
        return self.sample_rate / self.hop_length / self.stack

    @property
    def num_features(self) -> int:
        """Features per output frame: ``n_mels * stack``."""
        return self.n_mels * self.stack

    def num_frames(self, n_samples: int) -> int:
        """Output frames for ``n_samples`` input samples (after stacking)."""
        frames = (1 + n_samples // self.hop_length if self.center
                  else 1 + (n_samples - self.n_fft) // self.hop_length)
        return max(frames, 0) // self.stack

    def to_dict(self) -> dict:
        """JSON-ready dict; inverse of :meth:`from_dict`."""
        return config_to_dict(self)

    @classmethod
    def from_dict(cls, d: dict) -> MelConfig:
        """Build from :meth:`to_dict` output; unknown keys are an error naming the key."""
        return config_from_dict(cls, d)


MEL_PRESETS: dict[str, MelConfig] = {
    # Myna (seed 000): nnAudio defaults at 16 kHz, 128 Slaney mels, natural-log compression.
    "myna": MelConfig(sample_rate=16000, n_fft=2048, hop_length=512, n_mels=128,
                      htk=False, slaney_norm=True, compression="log"),
    # MuQ (seed 004) / seed 001: 24 kHz, hop 240 = 100 frames/s, 128 HTK mels in dB,
    # standardised, 4 frames stacked to 25 Hz for the Conformer.
    "muq": MelConfig(sample_rate=24000, n_fft=2048, hop_length=240, n_mels=128,
                     htk=True, slaney_norm=False, compression="db",
                     normalize=(-45.0, 25.0), stack=4),
}
"""Named front-ends. ``muq``'s (mean, std) are dB statistics of music at this setting; refit
them with :func:`fit_normalization` for a new corpus."""


def get_mel_config(preset: str | MelConfig) -> MelConfig:
    """Look up a preset by name (see :data:`MEL_PRESETS`) or pass a config through."""
    if isinstance(preset, MelConfig):
        return preset
    try:
        return MEL_PRESETS[preset]
    except KeyError:
        raise ValueError(f"unknown mel preset {preset!r}; expected one of {sorted(MEL_PRESETS)}") from None


StftBackend = Literal["auto", "torch", "nnaudio"]


def _hz_to_mel(f: np.ndarray, htk: bool) -> np.ndarray:
    f = np.asanyarray(f, dtype=np.float64)
    if htk:
        return 2595.0 * np.log10(1.0 + f / 700.0)
    f_sp, min_log_hz, logstep = 200.0 / 3, 1000.0, np.log(6.4) / 27.0
    mels = np.array(f / f_sp)
    log_t = f >= min_log_hz
    mels[log_t] = min_log_hz / f_sp + np.log(f[log_t] / min_log_hz) / logstep
    return mels


def _mel_to_hz(m: np.ndarray, htk: bool) -> np.ndarray:
    if htk:
        return 700.0 * (10.0 ** (m / 2595.0) - 1.0)
    f_sp, min_log_hz, logstep = 200.0 / 3, 1000.0, np.log(6.4) / 27.0
    freqs = f_sp * m
    log_t = m >= min_log_hz / f_sp
    freqs[log_t] = min_log_hz * np.exp(logstep * (m[log_t] - min_log_hz / f_sp))
    return freqs


def mel_filterbank(sr: int, n_fft: int, n_mels: int, fmin: float = 0.0,
                   fmax: float | None = None, htk: bool = False,
                   slaney_norm: bool = True) -> np.ndarray:
    """Triangular mel filters ``(n_mels, n_fft // 2 + 1)`` float32 over the bins of an
    ``n_fft``-point FFT at ``sr`` Hz, between ``fmin`` and ``fmax`` Hz (default ``sr / 2``);
    Slaney or HTK mel scale, optionally area-normalised (Slaney). The same operations as
    librosa's ``filters.mel`` (and nnAudio's copy of it), so the same numbers bit for bit,
    without importing either (nnAudio pulls in ``scipy.signal``: seconds at start-up)."""
    fmax = float(sr) / 2 if fmax is None else fmax
    weights = np.zeros((int(n_mels), int(1 + n_fft // 2)), dtype=np.float32)
    fftfreqs = np.linspace(0, float(sr) / 2, int(1 + n_fft // 2), endpoint=True)
    mel_f = _mel_to_hz(np.linspace(_hz_to_mel(fmin, htk), _hz_to_mel(fmax, htk), n_mels + 2),
                       htk)
    fdiff = np.diff(mel_f)
    ramps = np.subtract.outer(mel_f, fftfreqs)
    for i in range(n_mels):
        weights[i] = np.maximum(0, np.minimum(-ramps[i] / fdiff[i], ramps[i + 2] / fdiff[i + 1]))
    if slaney_norm:
        weights *= (2.0 / (mel_f[2 : n_mels + 2] - mel_f[:n_mels]))[:, np.newaxis]
    return weights


class MelFrontend(nn.Module):
    """Waveform ``(B, T)`` or ``(T,)`` at ``cfg.sample_rate`` Hz → features ``(B, F, frames)``.

    Deterministic and batch-invariant: each row of the output depends only on its own row of
    input. ``stft="auto"`` picks ``torch.stft`` on every device (FFT beats nnAudio's
    convolution on CPU and CUDA alike); ``"nnaudio"`` uses nnAudio's convolutional STFT.
    """

    def __init__(self, cfg: MelConfig | str = "myna", stft: StftBackend = "auto"):
        super().__init__()
        self.cfg = cfg = get_mel_config(cfg)
        if stft not in ("auto", "torch", "nnaudio"):
            raise ValueError(f"stft must be auto|torch|nnaudio, got {stft!r}")
        self.backend = "torch" if stft == "auto" else stft
        win = cfg.win_length or cfg.n_fft
        fb = mel_filterbank(cfg.sample_rate, cfg.n_fft, cfg.n_mels, cfg.fmin, cfg.fmax,
                            htk=cfg.htk, slaney_norm=cfg.slaney_norm)
        self.register_buffer("mel_fb", torch.from_numpy(fb), persistent=False)  # (n_mels, F)
        self.register_buffer("window", torch.hann_window(win, periodic=True), persistent=False)
        self._conv_stft = None
        if self.backend == "nnaudio":
            from nnAudio.features import STFT

            self._conv_stft = STFT(n_fft=cfg.n_fft, win_length=win, hop_length=cfg.hop_length,
                                   window="hann", freq_scale="no", center=cfg.center,
                                   pad_mode=cfg.pad_mode, sr=cfg.sample_rate,
                                   output_format="Complex", verbose=False)

    def power_spectrogram(self, wav: torch.Tensor) -> torch.Tensor:
        """``(B, T)`` → linear-frequency ``|STFT|^power`` ``(B, n_fft//2+1, frames)``."""
        cfg = self.cfg
        if self._conv_stft is not None:
            ri = self._conv_stft(wav)  # (B, F, frames, 2)
            mag2 = ri[..., 0].square() + ri[..., 1].square()
        else:
            spec = torch.stft(wav, cfg.n_fft, cfg.hop_length, cfg.win_length or cfg.n_fft,
                              self.window, center=cfg.center, pad_mode=cfg.pad_mode,
                              return_complex=True)
            # re² + im² in one temporary (8x faster than view_as_real.pow.sum)
            mag2 = spec.real.square().addcmul_(spec.imag, spec.imag)
        return mag2 if cfg.power == 2.0 else mag2.pow(cfg.power / 2.0)

    def mel_power(self, wav: torch.Tensor) -> torch.Tensor:
        """``(B, T)`` → mel spectrogram before compression ``(B, n_mels, frames)``."""
        return torch.matmul(self.mel_fb, self.power_spectrogram(wav))

    def compress(self, mel: torch.Tensor) -> torch.Tensor:
        """Apply the configured compression and normalisation to ``(B, n_mels, frames)``."""
        cfg = self.cfg
        if cfg.compression == "log":
            mel = torch.log(mel + cfg.log_eps)
        elif cfg.compression == "db":
            mel = 10.0 * torch.log10(torch.clamp(mel, min=1e-10))
        if cfg.normalize is not None:
            mean, std = cfg.normalize
            mel = (mel - mean) / std
        return mel

    def stack_frames(self, feats: torch.Tensor) -> torch.Tensor:
        """``(B, n_mels, T)`` → ``(B, n_mels*stack, T//stack)``; trailing frames are dropped.

        Feature ``k * n_mels + f`` of output frame ``t`` is mel band ``f`` of input frame
        ``t * stack + k``.
        """
        s = self.cfg.stack
        if s == 1:
            return feats
        b, f, t = feats.shape
        t2 = t // s
        x = feats[:, :, : t2 * s].reshape(b, f, t2, s)
        return x.permute(0, 3, 1, 2).reshape(b, s * f, t2)

    def forward(self, wav: torch.Tensor) -> torch.Tensor:
        """``(B, T)`` or ``(T,)`` float waveform → ``(B, n_mels*stack, frames)`` float32."""
        if wav.ndim == 1:
            wav = wav.unsqueeze(0)
        if wav.ndim != 2:
            raise ValueError(f"MelFrontend expects (B, T) or (T,) audio, got {tuple(wav.shape)}")
        if self.cfg.center and self.cfg.pad_mode == "reflect" and wav.shape[-1] <= self.cfg.n_fft // 2:
            raise ValueError(f"audio of {wav.shape[-1]} samples is too short for n_fft "
                             f"{self.cfg.n_fft} with reflect padding; need > {self.cfg.n_fft // 2}")
        wav = wav.to(self.mel_fb.dtype)
        return self.stack_frames(self.compress(self.mel_power(wav)))


def fit_normalization(frontend: MelFrontend, waveforms: list[torch.Tensor]) -> tuple[float, float]:
    """Mean and std (over all bands and frames) of the compressed features of ``waveforms``.

    Each waveform is ``(T,)`` at ``frontend.cfg.sample_rate`` Hz. Use the result as
    ``MelConfig.normalize`` for a corpus.
    """
    total, sq, n = 0.0, 0.0, 0
    raw = dataclasses.replace(frontend.cfg, normalize=None, stack=1)
    plain = MelFrontend(raw)
    with torch.no_grad():
        for w in waveforms:
            f = plain(w).double()
            total += f.sum().item()
            sq += f.pow(2).sum().item()
            n += f.numel()
    mean = total / n
    return mean, math.sqrt(max(sq / n - mean * mean, 1e-12))
