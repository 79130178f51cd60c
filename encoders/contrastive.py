"""Contrastive objectives on paired embeddings."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def nt_xent(z1: torch.Tensor, z2: torch.Tensor, tau: float = 0.1,
            decoupled: bool = False) -> torch.Tensor:
    """NT-Xent / InfoNCE over two views (SimCLR), mean over all ``2B`` anchors.

    Args:
        z1, z2: ``(B, D)`` projections of view 1 and view 2; row i of each is a positive pair.
        tau: temperature.
        decoupled: drop the positive from the denominator (DCL, Yeh et al. 2022).

    For anchor ``z1_i`` the candidates are all ``2B - 1`` other vectors (its own copy is
    excluded); the positive is ``z2_i``. Cosine similarity is used (inputs are L2-normalised
    here).
    """
    if z1.shape != z2.shape or z1.ndim != 2:
        raise ValueError(f"nt_xent expects two (B, D) tensors, got {tuple(z1.shape)} and {tuple(z2.shape)}")
    b = z1.shape[0]
    z = F.normalize(torch.cat([z1, z2]).float(), dim=1)
    sim = z @ z.T / tau  # (2B, 2B)
    idx = torch.arange(2 * b, device=z.device)
    pos = (idx + b) % (2 * b)
    mask = torch.eye(2 * b, dtype=torch.bool, device=z.device)
    if decoupled:
        mask[idx, pos] = True
    logits = sim.masked_fill(mask, float("-inf"))
    pos_logit = sim[idx, pos]
    return (torch.logsumexp(logits, dim=1) - pos_logit).mean()
