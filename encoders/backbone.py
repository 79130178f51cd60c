"""Backbones of the masked-token-prediction family: a stem, then Conformer or Branchformer blocks.

Input is the ``muq`` mel preset already stacked to 25 Hz: ``(B, T, F)`` with
``F = n_mels · stack = 512`` features per frame. Two stems bring it to the model width ``D``:

* ``"linear"``: LayerNorm + Linear ``F → D`` on the stacked frames. The ×4 stacking of the
  front-end *is* the 100 Hz → 25 Hz subsampling; the stem adds no further striding. This is
  the light stem: ``F·D`` multiply-adds per frame.
* ``"conv2d"``: the classic Conformer subsampling. The stacked frames are unstacked back to
  ``(B, 1, 4T, n_mels)`` at 100 Hz, two 3×3 stride-2 convolutions (GELU) bring them to
  ``(B, C, T, n_mels/4)`` at 25 Hz, and a Linear maps ``C·n_mels/4 → D``. This is what MuQ
  uses; at large widths it costs more than half of the model's FLOPs.

Both give exactly ``T`` output frames at 25 Hz for ``T`` input frames.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from .attention import MixerKind
from .branchformer import BranchformerBlock
from .conformer import ConformerBlock

BlockKind = Literal["conformer", "branchformer"]
StemKind = Literal["linear", "conv2d"]


@dataclass(frozen=True)
class BackboneConfig:
    """Architecture of a backbone.

    Attributes:
        block: ``"conformer"`` or ``"branchformer"``.
        mixer: ``"mhsa"`` (rotary multi-head self-attention) or ``"summary"`` (SummaryMixing).
        dim: model width ``D``.
        depth: number of blocks.
        heads: attention heads (MHSA only; ``dim`` must be divisible by it).
        ffn_dim: feed-forward width (Conformer) or cgMLP width (Branchformer).
        kernel: depthwise convolution kernel in frames (odd).
        dropout: dropout probability during training.
        stem: ``"linear"`` or ``"conv2d"`` (see the module docstring).
        stem_channels: channels ``C`` of the conv2d stem.
    """

    block: BlockKind = "conformer"
    mixer: MixerKind = "mhsa"
    dim: int = 1024
    depth: int = 12
    heads: int = 16
    ffn_dim: int = 4096
    kernel: int = 31
    dropout: float = 0.1
    stem: StemKind = "linear"
    stem_channels: int = 256

    def __post_init__(self) -> None:
        if self.block not in ("conformer", "branchformer"):
            raise ValueError(f"BackboneConfig.block must be conformer|branchformer, got {self.block!r}")
        if self.mixer not in ("mhsa", "summary"):
            raise ValueError(f"BackboneConfig.mixer must be mhsa|summary, got {self.mixer!r}")
        if self.stem not in ("linear", "conv2d"):
            raise ValueError(f"BackboneConfig.stem must be linear|conv2d, got {self.stem!r}")
        if self.dim <= 0 or self.depth <= 0 or self.heads <= 0:
            raise ValueError(f"BackboneConfig: dim, depth and heads must be > 0, got "
                             f"dim={self.dim}, depth={self.depth}, heads={self.heads}")
        if self.dim % self.heads or (self.dim // self.heads) % 2:
            raise ValueError(f"BackboneConfig.heads={self.heads} must divide dim={self.dim} "
                             f"into an even head width (rotary positions)")
        if self.kernel % 2 == 0:
            raise ValueError(f"BackboneConfig.kernel must be odd, got {self.kernel}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"BackboneConfig.dropout must be in [0, 1), got {self.dropout}")


class LinearStem(nn.Module):
    """``(B, T, F)`` stacked mel frames → ``(B, T, D)``."""

    def __init__(self, in_features: int, dim: int, dropout: float = 0.0):
        super().__init__()
        self.net = nn.Sequential(nn.LayerNorm(in_features), nn.Linear(in_features, dim),
                                 nn.Dropout(dropout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class Conv2dStem(nn.Module):
    """``(B, T, n_mels·stack)`` → unstack to 100 Hz → two stride-2 3×3 convs → ``(B, T, D)``.

    Requires ``stack == 4`` (two stride-2 convolutions) and ``n_mels`` divisible by 4.
    """

    def __init__(self, in_features: int, stack: int, dim: int, channels: int,
                 dropout: float = 0.0):
        super().__init__()
        if stack != 4 or in_features % stack or (in_features // stack) % 4:
            raise ValueError(f"conv2d stem needs stack=4 and n_mels divisible by 4; got "
                             f"stack={stack}, features={in_features}")
        self.stack, self.n_mels = stack, in_features // stack
        self.conv = nn.Sequential(nn.Conv2d(1, channels, 3, stride=2, padding=1), nn.GELU(),
                                  nn.Conv2d(channels, channels, 3, stride=2, padding=1), nn.GELU())
        self.proj = nn.Sequential(nn.Linear(channels * (self.n_mels // 4), dim), nn.Dropout(dropout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, _ = x.shape
        # feature k*n_mels + f of frame t is band f of 100 Hz frame 4t + k (MelFrontend.stack_frames)
        y = x.reshape(b, t * self.stack, self.n_mels).unsqueeze(1)  # (B, 1, 4T, n_mels)
        y = self.conv(y)  # (B, C, T, n_mels/4)
        return self.proj(y.permute(0, 2, 1, 3).flatten(2))


class Backbone(nn.Module):
    """Stem + ``depth`` blocks. ``forward`` returns the last state or all ``depth + 1`` states."""

    def __init__(self, cfg: BackboneConfig, in_features: int = 512, stack: int = 4):
        super().__init__()
        self.cfg = cfg
        if cfg.stem == "linear":
            self.stem: nn.Module = LinearStem(in_features, cfg.dim, cfg.dropout)
        else:
            self.stem = Conv2dStem(in_features, stack, cfg.dim, cfg.stem_channels, cfg.dropout)
        block = ConformerBlock if cfg.block == "conformer" else BranchformerBlock
        self.blocks = nn.ModuleList(
            block(cfg.dim, cfg.heads, cfg.ffn_dim, cfg.kernel, cfg.dropout, cfg.mixer)
            for _ in range(cfg.depth))

    def forward(self, feats: torch.Tensor, pad_mask: torch.Tensor | None = None,
                return_all: bool = False) -> torch.Tensor | list[torch.Tensor]:
        """Stacked mel frames ``(B, T, F)`` → ``(B, T, D)`` at the same 25 Hz frame rate.

        ``pad_mask`` ``(B, T)`` is ``True`` at padded frames (ignored by every mixer). With
        ``return_all``, a list of ``depth + 1`` states ``(B, T, D)``: the stem output, then
        each block's output.
        """
        x = self.stem(feats)
        states = [x] if return_all else None
        for blk in self.blocks:
            x = blk(x, pad_mask)
            if states is not None:
                states.append(x)
        return states if states is not None else x
