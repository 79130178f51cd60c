"""Branchformer blocks (Peng et al. 2022), the backbone of seed 001.

Two branches read the same input in parallel and are concatenated, then merged by a linear
layer (concatenation beat a weighted average in the Branchformer paper)::

    g = Mixer(LN(x))                 global branch: rotary MHSA or SummaryMixing
    l = cgMLP(LN(x))                 local branch: convolutional gating MLP
    x = LN(x + Linear([g ; l]))

cgMLP: ``D → F`` channel projection + GELU, split into halves ``(a, b)``;
``b ← DepthwiseConv(LN(b))``; output ``Linear(a ⊙ b)`` back to ``D``.
"""

from __future__ import annotations

import torch
from torch import nn

from .attention import MixerKind, make_mixer
from .conformer import zero_padded


class ConvGatingMLP(nn.Module):
    """Convolutional gating MLP ``(B, T, D) → (B, T, D)`` with hidden width ``hidden`` (even)."""

    def __init__(self, dim: int, hidden: int, kernel: int = 31, dropout: float = 0.0):
        super().__init__()
        if hidden % 2 or kernel % 2 == 0:
            raise ValueError(f"ConvGatingMLP: hidden must be even and kernel odd, got "
                             f"hidden={hidden}, kernel={kernel}")
        half = hidden // 2
        self.proj_in = nn.Sequential(nn.Linear(dim, hidden), nn.GELU())
        self.norm_gate = nn.LayerNorm(half)
        self.depthwise = nn.Conv1d(half, half, kernel, padding=kernel // 2, groups=half)
        self.proj_out = nn.Linear(half, dim)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, pad_mask: torch.Tensor | None = None) -> torch.Tensor:
        a, b = self.proj_in(x).chunk(2, dim=-1)
        b = zero_padded(self.norm_gate(b), pad_mask)
        b = self.depthwise(b.transpose(1, 2)).transpose(1, 2)
        return self.drop(self.proj_out(self.drop(a * b)))


class BranchformerBlock(nn.Module):
    """Parallel global (mixer) and local (cgMLP) branches, concatenated and merged."""

    def __init__(self, dim: int, heads: int, ffn_dim: int, kernel: int = 31,
                 dropout: float = 0.0, mixer: MixerKind = "mhsa"):
        super().__init__()
        self.norm_global = nn.LayerNorm(dim)
        self.mixer = make_mixer(mixer, dim, heads, dropout)
        self.norm_local = nn.LayerNorm(dim)
        self.cgmlp = ConvGatingMLP(dim, ffn_dim, kernel, dropout)
        self.merge = nn.Linear(2 * dim, dim)
        self.drop = nn.Dropout(dropout)
        self.norm_out = nn.LayerNorm(dim)

    def forward(self, x: torch.Tensor, pad_mask: torch.Tensor | None = None) -> torch.Tensor:
        """``(B, T, D)`` → ``(B, T, D)``; ``pad_mask`` ``(B, T)`` is ``True`` at padding."""
        g = self.drop(self.mixer(self.norm_global(x), pad_mask))
        loc = self.cgmlp(self.norm_local(x), pad_mask)
        return self.norm_out(x + self.drop(self.merge(torch.cat([g, loc], dim=-1))))
