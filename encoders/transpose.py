"""Pitch transposition of mel spectrograms by warping the frequency axis.

A pitch shift of ``s`` semitones scales every frequency by ``2 ** (s / 12)``. On a mel
spectrogram that is a warp of the band axis: band ``k`` of the shifted spectrogram takes the
value the original has at frequency ``f_k / 2 ** (s / 12)``, where ``f_k`` is the band's centre
(Hz). Values between band centres are interpolated linearly (on the compressed, e.g. log,
values); bands whose source lies outside the bank repeat the edge band.

This is an approximation of rendering the audio transposed (each band's filter width is not
rescaled), cheap enough to run on training batches: Myna's transposed-twin negatives
(:class:`lyrebird.encoders.myna.MynaConfig` ``transpose``) use it.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from .mel import MelConfig

_SLANEY_F_SP = 200.0 / 3  # Hz per mel below the break
_SLANEY_MIN_LOG_HZ = 1000.0
_SLANEY_LOGSTEP = math.log(6.4) / 27.0


def hz_to_mel(f: np.ndarray, htk: bool) -> np.ndarray:
    """Frequencies (Hz) → mels on the HTK or Slaney scale (as librosa and nnAudio)."""
    f = np.asarray(f, dtype=np.float64)
    if htk:
        return 2595.0 * np.log10(1.0 + f / 700.0)
    lin = f / _SLANEY_F_SP
    brk = _SLANEY_MIN_LOG_HZ / _SLANEY_F_SP
    log = brk + np.log(np.maximum(f, 1e-12) / _SLANEY_MIN_LOG_HZ) / _SLANEY_LOGSTEP
    return np.where(f >= _SLANEY_MIN_LOG_HZ, log, lin)


def mel_to_hz(m: np.ndarray, htk: bool) -> np.ndarray:
    """Mels → frequencies (Hz); inverse of :func:`hz_to_mel`."""
    m = np.asarray(m, dtype=np.float64)
    if htk:
        return 700.0 * (10.0 ** (m / 2595.0) - 1.0)
    brk = _SLANEY_MIN_LOG_HZ / _SLANEY_F_SP
    return np.where(m >= brk, _SLANEY_MIN_LOG_HZ * np.exp(_SLANEY_LOGSTEP * (m - brk)),
                    _SLANEY_F_SP * m)


def band_centres(cfg: MelConfig) -> np.ndarray:
    """``(n_mels,)`` centre frequency (Hz) of each triangular band of ``cfg``'s filter bank."""
    fmax = cfg.fmax if cfg.fmax is not None else cfg.sample_rate / 2
    pts = np.linspace(hz_to_mel(cfg.fmin, cfg.htk), hz_to_mel(fmax, cfg.htk), cfg.n_mels + 2)
    return mel_to_hz(pts[1:-1], cfg.htk)


def _source_index(cfg: MelConfig, semitones: torch.Tensor) -> torch.Tensor:
    """``(B,)`` shifts → ``(B, n_mels)`` fractional source band index of every output band
    (clamped to the bank; exactly ``k`` for band ``k`` at zero shift)."""
    centres = band_centres(cfg)
    centre_mels = hz_to_mel(centres, cfg.htk)
    ratio = 2.0 ** (-semitones.detach().double().cpu().numpy() / 12.0)  # source / target
    src_mels = hz_to_mel(centres[None, :] * ratio[:, None], cfg.htk)
    idx = np.interp(src_mels, centre_mels, np.arange(cfg.n_mels, dtype=np.float64))
    return torch.from_numpy(idx)


def transpose_mel(mel: torch.Tensor, semitones: torch.Tensor, cfg: MelConfig) -> torch.Tensor:
    """Transpose each spectrogram of a batch by its own number of semitones.

    Args:
        mel: ``(B, n_mels, T)`` compressed mel spectrograms made with ``cfg`` (``stack`` 1).
        semitones: ``(B,)`` shifts in semitones (fractions allowed; positive = up).
        cfg: the front-end that made ``mel`` (its band layout, Hz).

    Returns:
        ``(B, n_mels, T)``, same dtype and device; a zero shift returns the input exactly.
    """
    if mel.ndim != 3 or mel.shape[1] != cfg.n_mels:
        raise ValueError(f"transpose_mel expects (B, {cfg.n_mels}, T) spectrograms, got "
                         f"{tuple(mel.shape)}")
    if cfg.stack != 1:
        raise ValueError("transpose_mel needs unstacked mel frames (MelConfig.stack == 1)")
    semitones = torch.as_tensor(semitones).reshape(-1)
    if semitones.shape[0] != mel.shape[0]:
        raise ValueError(f"transpose_mel: {semitones.shape[0]} shifts for {mel.shape[0]} "
                         "spectrograms")
    idx = _source_index(cfg, semitones).to(mel.device)
    lo = idx.floor().long().clamp(max=cfg.n_mels - 1)
    hi = (lo + 1).clamp(max=cfg.n_mels - 1)
    w = (idx - lo).to(mel.dtype)[:, :, None]
    t = mel.shape[-1]
    a = mel.gather(1, lo[:, :, None].expand(-1, -1, t))
    b = mel.gather(1, hi[:, :, None].expand(-1, -1, t))
    return a + w * (b - a)


def transposed_twins(mel1: torch.Tensor, mel2: torch.Tensor, max_semitones: int, cfg: MelConfig,
                     generator: torch.Generator | None = None
                     ) -> tuple[torch.Tensor, torch.Tensor]:
    """Two views ``(B, F, T)`` → ``(2B, F, T)`` each: the pairs, then their transposed twins.

    Every pair is detuned by a random ``d`` in [-0.5, 0.5) semitones (both views alike) and
    gets a twin pair transposed by ``d + s``, with ``s`` a random non-zero integer in
    ``[-max_semitones, max_semitones]``. A twin is a separate item of the contrastive batch, so
    each clip meets the same music in another key as a negative; the detune keeps the
    interpolation from marking the twins. Draws come from ``generator`` (on ``mel1``'s device).
    """
    if max_semitones < 1:
        raise ValueError(f"transposed_twins: max_semitones must be >= 1, got {max_semitones}")
    b, dev = mel1.shape[0], mel1.device
    d = torch.rand(b, generator=generator, device=dev) - 0.5
    mag = torch.randint(1, max_semitones + 1, (b,), generator=generator, device=dev)
    sign = torch.randint(0, 2, (b,), generator=generator, device=dev) * 2 - 1
    shifts = torch.cat([d, d + mag * sign])
    return (transpose_mel(torch.cat([mel1, mel1]), shifts, cfg),
            transpose_mel(torch.cat([mel2, mel2]), shifts, cfg))


__all__ = ["band_centres", "hz_to_mel", "mel_to_hz", "transpose_mel", "transposed_twins"]
