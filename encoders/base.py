"""The encoder protocol shared by every Lyrebird audio encoder.

A concrete encoder implements one method, :meth:`AudioEncoder.encode_clips`, over a batch of
fixed-length clips at its own sample rate. This base class turns that into the public API of
docs/architecture.md for audio of any length and any sample rate, in bounded memory:

* ``embed_frames(wav, sr) -> (T, DIM)`` at ``FRAME_RATE`` frames per second;
* ``embed(wav, sr) -> (DIM,)``, the mean of the clip embeddings, weighted by real audio length;
* ``hidden_states(wav, sr) -> list[(T, D_l)]``, one entry per layer (layer 0 = token input).

Tracks are cut into ``clip_s`` windows (the length the model was trained on), run in batches
of ``batch_size`` clips, and concatenated (frames) or pooled (embeddings).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch
from torch import nn

from .audio import prepare_waveform
from .chunking import chunk
from .pooling import weighted_mean, window_batches


@dataclass
class ClipOutput:
    """What an encoder computes for a batch of ``B`` clips.

    Attributes:
        pooled: ``(B, DIM)`` one embedding per clip.
        frames: ``(B, T_clip, DIM)`` frame embeddings at ``FRAME_RATE``.
        hidden_states: per layer ``(B, T_clip, D_l)`` frame-aligned states, or ``None``
            when not requested.
    """

    pooled: torch.Tensor
    frames: torch.Tensor
    hidden_states: list[torch.Tensor] | None = None


class AudioEncoder(nn.Module):
    """Base class: subclasses set ``SAMPLE_RATE``, ``FRAME_RATE``, ``DIM``, ``clip_s`` and
    implement :meth:`encode_clips`.
    """

    kind: ClassVar[str] = "abstract"
    SAMPLE_RATE: int = 16000  # Hz expected by the model
    FRAME_RATE: float = 1.0  # frames per second of embed_frames
    DIM: int = 0  # embedding width
    clip_s: float = 3.0  # seconds per inference window
    batch_size: int = 16  # clips per forward pass at inference

    def encode_clips(self, audio: torch.Tensor, hidden: bool = False) -> ClipOutput:
        """``(B, round(clip_s * SAMPLE_RATE))`` float audio → :class:`ClipOutput`."""
        raise NotImplementedError

    @property
    def device(self) -> torch.device:
        p = next(self.parameters(), None)
        return p.device if p is not None else torch.device("cpu")

    @property
    def clip_samples(self) -> int:
        return int(round(self.clip_s * self.SAMPLE_RATE))

    def _run(self, wav: np.ndarray | torch.Tensor, sr: int, hidden: bool):
        x = prepare_waveform(wav, sr, self.SAMPLE_RATE)
        ch = chunk(x, self.SAMPLE_RATE, self.clip_s, last="pad")
        outs: list[ClipOutput] = []
        with torch.inference_mode():
            for audio, _ in window_batches(ch, self.batch_size):
                o = self.encode_clips(torch.from_numpy(audio).to(self.device), hidden=hidden)
                outs.append(ClipOutput(o.pooled.float().cpu(), o.frames.float().cpu(),
                                       None if o.hidden_states is None
                                       else [h.float().cpu() for h in o.hidden_states]))
        return ch, outs

    def _trim(self, per_clip: torch.Tensor, valid: np.ndarray) -> torch.Tensor:
        """``(N, T_clip, D)`` → ``(T, D)``: concatenate clips, dropping padded-only frames."""
        t_clip = per_clip.shape[1]
        keep = [max(1, min(t_clip, int(np.ceil(v / self.clip_samples * t_clip)))) for v in valid]
        return torch.cat([per_clip[i, :k] for i, k in enumerate(keep)], dim=0)

    def embed_frames(self, wav: np.ndarray | torch.Tensor, sr: int) -> torch.Tensor:
        """Frame embeddings ``(T, DIM)`` at ``FRAME_RATE`` Hz for audio of any length.

        ``wav`` is ``(T,)``, ``(C, T)`` or ``(T, C)`` at ``sr`` Hz (resampled as needed).
        """
        ch, outs = self._run(wav, sr, hidden=False)
        return self._trim(torch.cat([o.frames for o in outs]), ch.valid)

    def embed(self, wav: np.ndarray | torch.Tensor, sr: int) -> torch.Tensor:
        """One embedding ``(DIM,)`` for audio of any length at ``sr`` Hz.

        The mean of the per-clip embeddings, each weighted by its seconds of real audio.
        """
        ch, outs = self._run(wav, sr, hidden=False)
        return weighted_mean(torch.cat([o.pooled for o in outs]), ch.valid)

    def hidden_states(self, wav: np.ndarray | torch.Tensor, sr: int) -> list[torch.Tensor]:
        """Per-layer frame states ``[(T, D_l), ...]`` (index 0 = input tokens)."""
        ch, outs = self._run(wav, sr, hidden=True)
        n_layers = len(outs[0].hidden_states or [])
        return [self._trim(torch.cat([o.hidden_states[li] for o in outs]), ch.valid)
                for li in range(n_layers)]

    def embed_layers(self, wav: np.ndarray | torch.Tensor, sr: int
                     ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """One pass for probing: ``embed`` ``(DIM,)`` and each layer's time-averaged state
        ``[(D_l,), ...]`` (the mean of :meth:`hidden_states` over frames)."""
        ch, outs = self._run(wav, sr, hidden=True)
        emb = weighted_mean(torch.cat([o.pooled for o in outs]), ch.valid)
        n_layers = len(outs[0].hidden_states or [])
        layers = [self._trim(torch.cat([o.hidden_states[li] for o in outs]), ch.valid).mean(0)
                  for li in range(n_layers)]
        return emb, layers

    def embed_batch(self, clips: torch.Tensor) -> torch.Tensor:
        """``(B, clip_samples)`` audio at ``SAMPLE_RATE`` → ``(B, DIM)``, for training loops."""
        return self.encode_clips(clips.to(self.device)).pooled
