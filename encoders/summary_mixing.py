"""SummaryMixing: a linear-time drop-in replacement for multi-head self-attention.

Parcollet et al. (used by seed 001 in Conformer and Branchformer): each frame is mixed with one
*summary* vector of the whole sequence instead of attending to every other frame::

    f_t = GELU(W_f x_t)                          local branch,   (B, T, d_local)
    s   = mean_t GELU(W_s x_t)                   summary,        (B, d_summary), valid frames only
    y_t = GELU(W_c [f_t ; s])                    combiner,       (B, T, D)

Time and memory are ``O(T · D²)``: linear in the sequence length, where MHSA is quadratic.
Positions are not encoded here (the mean is permutation-invariant); the convolutional parts of
the surrounding blocks carry local order.
"""

from __future__ import annotations

import torch
from torch import nn


class SummaryMixing(nn.Module):
    """Same interface as :class:`~lyrebird.encoders.attention.MultiHeadSelfAttention`.

    Args:
        dim: model width ``D``.
        local_dim, summary_dim: widths of the local and summary branches (default ``D``).
        dropout: dropout on the branch outputs during training.
    """

    def __init__(self, dim: int, local_dim: int | None = None, summary_dim: int | None = None,
                 dropout: float = 0.0):
        super().__init__()
        local_dim, summary_dim = local_dim or dim, summary_dim or dim
        self.local = nn.Sequential(nn.Linear(dim, local_dim), nn.GELU(), nn.Dropout(dropout))
        self.summary = nn.Sequential(nn.Linear(dim, summary_dim), nn.GELU(), nn.Dropout(dropout))
        # W_c [f ; s] = W_cf f + W_cs s: the summary half is computed once per sequence
        self.combine_local = nn.Linear(local_dim, dim)
        self.combine_summary = nn.Linear(summary_dim, dim, bias=False)
        self.act = nn.GELU()

    def forward(self, x: torch.Tensor, pad_mask: torch.Tensor | None = None) -> torch.Tensor:
        """``(B, T, D)`` → ``(B, T, D)``; frames at ``pad_mask`` are left out of the summary."""
        s = self.summary(x)  # (B, T, S)
        if pad_mask is None:
            mean = s.mean(dim=1, keepdim=True)
        else:
            keep = (~pad_mask).unsqueeze(-1).to(s.dtype)
            mean = (s * keep).sum(1, keepdim=True) / keep.sum(1, keepdim=True).clamp_min(1.0)
        return self.act(self.combine_local(self.local(x)) + self.combine_summary(mean))
