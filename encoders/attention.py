"""Token mixers for the masked-token-prediction backbones: rotary MHSA and the mixer factory.

Every mixer shares one interface, so the Conformer and Branchformer blocks take either:

``forward(x: (B, T, D), pad_mask: (B, T) bool | None) -> (B, T, D)``

``pad_mask`` is ``True`` at padded frames. Padded frames never influence valid frames; what a
mixer writes at padded frames is unspecified (callers ignore it).
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

MixerKind = Literal["mhsa", "summary"]


class RotaryEmbedding(nn.Module):
    """Rotary position embedding (RoFormer) for ``dim_head``-wide heads.

    Channels are rotated in ``(i, i + dim_head/2)`` pairs by angle ``t * base^(-2i/dim_head)``
    at frame ``t``. ``cos``/``sin`` tables are cached per (length, device, dtype).
    """

    def __init__(self, dim_head: int, base: float = 10000.0):
        super().__init__()
        if dim_head % 2:
            raise ValueError(f"rotary embedding needs an even head width, got dim_head={dim_head}")
        inv = 1.0 / base ** (torch.arange(0, dim_head, 2, dtype=torch.float32) / dim_head)
        self.register_buffer("inv_freq", inv, persistent=False)
        self._cache: dict[tuple, tuple[torch.Tensor, torch.Tensor]] = {}

    def tables(self, n: int, device: torch.device, dtype: torch.dtype):
        """``(cos, sin)``, each ``(n, dim_head)``, for positions ``0 … n-1``."""
        key = (n, device, dtype)
        if key not in self._cache:
            t = torch.arange(n, device=device, dtype=torch.float32)
            ang = torch.outer(t, self.inv_freq.to(device))
            ang = torch.cat([ang, ang], dim=-1)
            if len(self._cache) > 8:
                self._cache.clear()
            self._cache[key] = (ang.cos().to(dtype), ang.sin().to(dtype))
        return self._cache[key]

    @staticmethod
    def rotate(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        """Apply the rotation to ``(B, H, T, dim_head)`` with ``(T, dim_head)`` tables."""
        h = x.shape[-1] // 2
        rot = torch.cat([-x[..., h:], x[..., :h]], dim=-1)
        return x * cos + rot * sin


class MultiHeadSelfAttention(nn.Module):
    """Bidirectional multi-head self-attention with rotary positions on queries and keys.

    Cost is quadratic in ``T`` (time; memory too unless the fused SDPA kernel avoids the
    ``T × T`` matrix). Uses ``F.scaled_dot_product_attention`` (flash/efficient kernels).
    """

    def __init__(self, dim: int, heads: int, dropout: float = 0.0, rotary: bool = True):
        super().__init__()
        if dim % heads:
            raise ValueError(f"MultiHeadSelfAttention: dim {dim} must be divisible by heads {heads}")
        self.heads, self.dim_head, self.dropout = heads, dim // heads, dropout
        self.qkv = nn.Linear(dim, 3 * dim)
        self.out = nn.Linear(dim, dim)
        self.rotary = RotaryEmbedding(self.dim_head) if rotary else None

    def forward(self, x: torch.Tensor, pad_mask: torch.Tensor | None = None) -> torch.Tensor:
        """``(B, T, D)`` → ``(B, T, D)``; keys at ``pad_mask`` frames are ignored."""
        b, t, d = x.shape
        q, k, v = self.qkv(x).view(b, t, 3, self.heads, self.dim_head).permute(2, 0, 3, 1, 4)
        if self.rotary is not None:
            cos, sin = self.rotary.tables(t, x.device, q.dtype)
            q, k = self.rotary.rotate(q, cos, sin), self.rotary.rotate(k, cos, sin)
        attn_mask = None if pad_mask is None else ~pad_mask[:, None, None, :]
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask,
                                           dropout_p=self.dropout if self.training else 0.0)
        return self.out(y.transpose(1, 2).reshape(b, t, d))


def make_mixer(kind: MixerKind, dim: int, heads: int, dropout: float = 0.0) -> nn.Module:
    """``"mhsa"`` → :class:`MultiHeadSelfAttention` (rotary); ``"summary"`` →
    :class:`~lyrebird.encoders.summary_mixing.SummaryMixing` (linear time)."""
    if kind == "mhsa":
        return MultiHeadSelfAttention(dim, heads, dropout)
    if kind == "summary":
        from .summary_mixing import SummaryMixing

        return SummaryMixing(dim, dropout=dropout)
    raise ValueError(f"mixer must be 'mhsa' or 'summary', got {kind!r}")
