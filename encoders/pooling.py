"""One routine for "window → embed in batches → weighted mean", shared by every embedder.

An encoder's :meth:`~lyrebird.encoders.AudioEncoder.embed`, MuLan's ``embed_audio`` and
``embed_audio_batch``, and the library's track vectors all pool per-window vectors the same
way: each window weighs as much as its seconds of real (non-padded) audio.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
import torch
import torch.nn.functional as F

from .chunking import Chunks


def window_batches(ch: Chunks, batch_size: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Batches of ``ch``'s windows: ``(B, L)`` float32 audio and ``(B,)`` real samples."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    for i in range(0, len(ch), batch_size):
        yield ch.audio[i : i + batch_size], ch.valid[i : i + batch_size]


def embed_windows(ch: Chunks, embed: Callable[[np.ndarray, np.ndarray], torch.Tensor],
                  batch_size: int) -> torch.Tensor:
    """Run ``embed(audio (B, L), valid (B,)) → (B, D)`` over ``ch`` in batches → ``(N, D)``
    float32 on CPU. Memory is bounded by one batch of windows."""
    return torch.cat([embed(a, v).float().cpu() for a, v in window_batches(ch, batch_size)])


def weighted_mean(vectors: torch.Tensor | np.ndarray, valid: np.ndarray,
                  owner: np.ndarray | None = None, n: int | None = None,
                  normalize: bool = False) -> torch.Tensor:
    """Mean of window vectors ``(N, D)`` weighted by their real samples ``valid (N,)``.

    Without ``owner``: one ``(D,)`` vector. With ``owner (N,)`` (which recording each window
    came from, ``0..n-1``): ``(n, D)``, one pooled vector per recording. ``normalize`` returns
    L2-normalised vectors (the weights' scale then does not matter).
    """
    v = torch.as_tensor(vectors).float()
    w = torch.as_tensor(np.asarray(valid, dtype=np.float32))
    if len(w) != len(v):
        raise ValueError(f"weighted_mean: {len(v)} vectors but {len(w)} weights")
    if owner is None:
        out = (v * w[:, None]).sum(0) / w.sum().clamp_min(1e-12)
    else:
        idx = torch.as_tensor(np.asarray(owner, dtype=np.int64))
        n = int(idx.max()) + 1 if n is None else n
        total = torch.zeros(n).index_add_(0, idx, w).clamp_min(1e-12)
        out = torch.zeros(n, v.shape[1]).index_add_(0, idx, v * w[:, None]) / total[:, None]
    return F.normalize(out, dim=-1) if normalize else out
