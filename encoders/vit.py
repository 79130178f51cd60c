"""SimpleViT on spectrograms: patchers, 2-D sin-cos positions, pre-norm transformer.

A *patcher* cuts a mel spectrogram ``(B, F, T)`` into ``ph × pw`` patches on an ``h × w`` grid
(``h = F // ph``, ``w = T // pw``, trailing frames dropped) and owns its own linear projection
and positional embedding. Patch selection (masking) happens on the raw patches, *before* the
projection, so the cost of a masked forward pass scales with the kept tokens only.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def posemb_sincos_2d(h: int, w: int, dim: int, temperature: float = 10000.0) -> torch.Tensor:
    """Fixed 2-D sin-cos positional embeddings ``(h * w, dim)`` in row-major (h, w) order.

    A quarter of the channels each carry sin/cos of the row and of the column position at
    geometrically spaced frequencies (Beyer et al. 2022, "Better plain ViT baselines").
    """
    if dim % 4:
        raise ValueError(f"sin-cos 2-D embedding needs dim divisible by 4, got {dim}")
    y, x = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    omega = 1.0 / temperature ** (torch.arange(dim // 4) / (dim // 4 - 1 if dim > 4 else 1))
    y = y.flatten()[:, None] * omega[None, :]
    x = x.flatten()[:, None] * omega[None, :]
    return torch.cat((x.sin(), x.cos(), y.sin(), y.cos()), dim=1).float()


class Patcher(nn.Module):
    """Cut ``(B, F, T)`` into ``ph × pw`` patches, select some, project to ``dim`` + positions."""

    def __init__(self, n_mels: int, ph: int, pw: int, dim: int):
        super().__init__()
        if n_mels % ph:
            raise ValueError(f"patch height {ph} must divide n_mels {n_mels}")
        self.ph, self.pw, self.h = ph, pw, n_mels // ph
        self.proj = nn.Linear(ph * pw, dim)
        self.norm_in = nn.LayerNorm(ph * pw)
        self.norm_out = nn.LayerNorm(dim)
        self.dim = dim
        self._pos_cache: dict[tuple[int, torch.device], torch.Tensor] = {}

    def grid(self, n_frames: int) -> tuple[int, int]:
        """``(h, w)`` token grid for ``n_frames`` spectrogram frames."""
        return self.h, n_frames // self.pw

    def patches(self, mel: torch.Tensor) -> torch.Tensor:
        """``(B, F, T)`` → raw patches ``(B, h*w, ph*pw)``, row-major over the grid."""
        b, _, t = mel.shape
        h, w = self.grid(t)
        if w < 1:
            raise ValueError(f"need at least {self.pw} frames for {self.ph}x{self.pw} patches, got {t}")
        x = mel[:, :, : w * self.pw].reshape(b, h, self.ph, w, self.pw)
        return x.permute(0, 1, 3, 2, 4).reshape(b, h * w, self.ph * self.pw)

    def pos(self, n_frames: int, device: torch.device) -> torch.Tensor:
        """Positional embeddings ``(h*w, dim)`` for ``n_frames`` frames (cached)."""
        key = (n_frames // self.pw, device)
        if key not in self._pos_cache:
            h, w = self.grid(n_frames)
            self._pos_cache[key] = posemb_sincos_2d(h, w, self.dim).to(device)
        return self._pos_cache[key]

    def forward(self, mel: torch.Tensor, keep: torch.Tensor | None = None) -> torch.Tensor:
        """Tokens ``(B, N, dim)``; with ``keep`` ``(B, K)`` indices only those ``K`` tokens."""
        p = self.patches(mel)
        pos = self.pos(mel.shape[-1], mel.device)
        if keep is not None:
            p = torch.gather(p, 1, keep[..., None].expand(-1, -1, p.shape[-1]))
            pos = pos[keep]
        else:
            pos = pos[None]
        return self.norm_out(self.proj(self.norm_in(p))) + pos


class Attention(nn.Module):
    def __init__(self, dim: int, heads: int, dim_head: int):
        super().__init__()
        inner = heads * dim_head
        self.heads = heads
        self.norm = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, inner * 3, bias=False)
        self.out = nn.Linear(inner, dim, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, _ = x.shape
        q, k, v = self.qkv(self.norm(x)).chunk(3, dim=-1)
        q, k, v = (t.view(b, n, self.heads, -1).transpose(1, 2) for t in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v)
        return self.out(y.transpose(1, 2).reshape(b, n, -1))


class FeedForward(nn.Sequential):
    def __init__(self, dim: int, hidden: int):
        super().__init__(nn.LayerNorm(dim), nn.Linear(dim, hidden), nn.GELU(),
                         nn.Linear(hidden, dim))


class Transformer(nn.Module):
    """Pre-norm transformer; :meth:`forward` can return every layer's output."""

    def __init__(self, dim: int, depth: int, heads: int, mlp_dim: int):
        super().__init__()
        dim_head = dim // heads
        self.layers = nn.ModuleList(
            nn.ModuleList([Attention(dim, heads, dim_head), FeedForward(dim, mlp_dim)])
            for _ in range(depth))
        self.norm = nn.LayerNorm(dim)

    def forward(self, x: torch.Tensor, return_all: bool = False):
        """``(B, N, dim)`` → ``(B, N, dim)``, or a list of ``depth + 1`` states (input first,
        final state after the closing LayerNorm) when ``return_all``."""
        states = [x] if return_all else None
        for attn, ff in self.layers:
            x = x + attn(x)
            x = x + ff(x)
            if return_all and len(states) < len(self.layers):
                states.append(x)
        x = self.norm(x)
        if return_all:
            states.append(x)
            return states
        return x


def keep_count(n_tokens: int, mask_ratio: float) -> int:
    """Tokens kept when masking ``mask_ratio`` of ``n_tokens`` (at least one)."""
    if not 0.0 <= mask_ratio < 1.0:
        raise ValueError(f"mask_ratio must be in [0, 1), got {mask_ratio}")
    return max(1, int(math.floor(n_tokens * (1.0 - mask_ratio) + 0.5)))


def random_keep(batch: int, n_tokens: int, mask_ratio: float, device: torch.device,
                generator: torch.Generator | None = None) -> torch.Tensor:
    """Indices ``(B, K)`` of tokens to keep, uniform without replacement, per sample.

    Vectorised (one ``rand`` + ``topk``), no Python loop over the batch.
    """
    k = keep_count(n_tokens, mask_ratio)
    noise = torch.rand(batch, n_tokens, device=device, generator=generator)
    return noise.topk(k, dim=1).indices
