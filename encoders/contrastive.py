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


def paired_contrastive(za: torch.Tensor, zb: torch.Tensor, tau: float | torch.Tensor = 0.1,
                       decoupled: bool = True, exclude: torch.Tensor | None = None,
                       symmetric: bool = True) -> torch.Tensor:
    """Cross-modal contrastive loss over a batch of ``B`` pairs (CLIP/MuLan), mean over anchors.

    Args:
        za, zb: ``(B, D)`` embeddings of the two modalities (e.g. audio, text); row i of
            each is a positive pair. They are L2-normalised here; similarity is the cosine.
        tau: temperature, a float or a scalar tensor (learnable temperatures pass the tensor).
        decoupled: DCL (Yeh et al. 2022): the positive is removed from the denominator, so
            anchor i's loss is ``-s_ii/tau + log sum_{j != i} exp(s_ij/tau)``. ``False`` gives
            InfoNCE, whose denominator includes ``j = i``.
        exclude: optional ``(B, B)`` bool mask of pairs that are *not* negatives although
            ``i != j`` (same work, identical captions); they are dropped from every
            denominator. The diagonal of ``exclude`` is ignored.
        symmetric: average the ``a→b`` (rows) and ``b→a`` (columns) directions; otherwise
            ``a→b`` only.

    A row whose denominator is empty (``B = 1`` under DCL, or every other pair excluded)
    contributes ``-s_ii/tau`` alone: it is dropped from the log-sum-exp, not set to inf.
    """
    if za.ndim != 2 or za.shape != zb.shape:
        raise ValueError(f"paired_contrastive expects two (B, D) tensors of one shape, got "
                         f"{tuple(za.shape)} and {tuple(zb.shape)}")
    b = za.shape[0]
    a = F.normalize(za.float(), dim=1)
    t = F.normalize(zb.float(), dim=1)
    sim = a @ t.T / tau  # (B, B): rows a→b, columns b→a
    eye = torch.eye(b, dtype=torch.bool, device=sim.device)
    drop = torch.zeros_like(eye) if exclude is None else exclude.to(sim.device).bool() & ~eye
    if decoupled:
        drop = drop | eye
    pos = sim.diagonal()

    def direction(s: torch.Tensor, d: torch.Tensor) -> torch.Tensor:
        has = ~d.all(dim=1)  # rows with at least one candidate in the denominator
        lg = torch.where(has[:, None], s.masked_fill(d, float("-inf")), torch.zeros_like(s))
        return (torch.logsumexp(lg, dim=1) * has - pos).mean()

    loss = direction(sim, drop)
    if symmetric:
        loss = 0.5 * (loss + direction(sim.T, drop.T))
    return loss
