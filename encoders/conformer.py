"""Conformer blocks (Gulati et al. 2020), as used by MuQ and OMAR-RQ.

One block, on ``(B, T, D)`` frames::

    x = x + ½ FFN(x)                 macaron feed-forward (LayerNorm, D→F, SiLU, F→D)
    x = x + Mixer(LN(x))             rotary MHSA, or SummaryMixing (linear time)
    x = x + Conv(x)                  LN, pointwise D→2D + GLU, depthwise conv k, LN, SiLU, D→D
    x = x + ½ FFN(x)
    x = LN(x)

The convolution module normalises with LayerNorm rather than BatchNorm: its output for a clip
then never depends on the other clips of a batch nor on padding, and it needs no running
statistics under DDP. Padded frames are zeroed before the depthwise convolution so that they
cannot leak into valid frames.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .attention import MixerKind, make_mixer


def silu(x: torch.Tensor) -> torch.Tensor:
    """SiLU, in place when no gradient is recorded (saves an allocation at inference)."""
    return F.silu(x, inplace=not torch.is_grad_enabled())


class FeedForward(nn.Module):
    """Pre-norm position-wise MLP ``(B, T, D) → (B, T, D)`` with SiLU (Swish)."""

    def __init__(self, dim: int, hidden: int, dropout: float = 0.0):
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.drop(self.fc2(self.drop(silu(self.fc1(self.norm(x))))))


def zero_padded(x: torch.Tensor, pad_mask: torch.Tensor | None) -> torch.Tensor:
    """``(B, T, C)`` with the frames at ``pad_mask`` ``(B, T)`` set to zero."""
    return x if pad_mask is None else x.masked_fill(pad_mask.unsqueeze(-1), 0.0)


class ConvModule(nn.Module):
    """Conformer convolution module ``(B, T, D) → (B, T, D)`` (odd ``kernel``, 'same' padding)."""

    def __init__(self, dim: int, kernel: int = 31, dropout: float = 0.0):
        super().__init__()
        if kernel % 2 == 0:
            raise ValueError(f"ConvModule: kernel must be odd for 'same' padding, got {kernel}")
        self.norm = nn.LayerNorm(dim)
        self.pointwise_in = nn.Linear(dim, 2 * dim)
        self.depthwise = nn.Conv1d(dim, dim, kernel, padding=kernel // 2, groups=dim)
        self.norm_dw = nn.LayerNorm(dim)
        self.pointwise_out = nn.Linear(dim, dim)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, pad_mask: torch.Tensor | None = None) -> torch.Tensor:
        y = nn.functional.glu(self.pointwise_in(self.norm(x)), dim=-1)
        y = zero_padded(y, pad_mask)
        y = self.depthwise(y.transpose(1, 2)).transpose(1, 2)
        return self.drop(self.pointwise_out(silu(self.norm_dw(y))))


class ConformerBlock(nn.Module):
    """Macaron FFN → mixer → convolution → FFN → LayerNorm, each with a residual."""

    def __init__(self, dim: int, heads: int, ffn_dim: int, kernel: int = 31,
                 dropout: float = 0.0, mixer: MixerKind = "mhsa"):
        super().__init__()
        self.ff1 = FeedForward(dim, ffn_dim, dropout)
        self.norm_mix = nn.LayerNorm(dim)
        self.mixer = make_mixer(mixer, dim, heads, dropout)
        self.drop = nn.Dropout(dropout)
        self.conv = ConvModule(dim, kernel, dropout)
        self.ff2 = FeedForward(dim, ffn_dim, dropout)
        self.norm_out = nn.LayerNorm(dim)

    def forward(self, x: torch.Tensor, pad_mask: torch.Tensor | None = None) -> torch.Tensor:
        """``(B, T, D)`` → ``(B, T, D)``; ``pad_mask`` ``(B, T)`` is ``True`` at padding."""
        x = x + 0.5 * self.ff1(x)
        x = x + self.drop(self.mixer(self.norm_mix(x), pad_mask))
        x = x + self.conv(x, pad_mask)
        x = x + 0.5 * self.ff2(x)
        return self.norm_out(x)
