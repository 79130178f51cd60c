"""The distilled tag head as a trainable ``nn.Module`` (:class:`TagHeadNet`).

Training (:mod:`lyrebird.train.trainers.tag_head`) fits and saves it; libraries, the app and
evaluations read the saved head with :class:`lyrebird.mulan.tag_head.TagHead`, in NumPy.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from lyrebird.core.saved_module import SavedModule

from .tag_head import KIND, TagHead, TagHeadConfig


class TagHeadNet(SavedModule, nn.Module):
    """Trainable: ``(N, dim)`` unit vectors → ``(N, n_tags)`` logits (and ``(N, feat_dim)``
    features). Same weights and fingerprint as its NumPy twin (:meth:`frozen`)."""

    KIND = KIND
    CONFIG = TagHeadConfig

    def __init__(self, cfg: TagHeadConfig = TagHeadConfig()):
        super().__init__()
        self.cfg = cfg
        n = len(cfg.names)
        width = cfg.hidden or cfg.dim
        self.trunk = (nn.Sequential(nn.Linear(cfg.dim, cfg.hidden), nn.GELU())
                      if cfg.hidden else nn.Identity())
        self.tags = nn.Linear(width, n)
        self.feats = nn.Linear(width, cfg.feat_dim) if cfg.feat_dim else None

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``x (N, dim)`` → ``(logits (N, n_tags), features (N, feat_dim) or None)``."""
        h = self.trunk(x)
        return self.tags(h), (self.feats(h) if self.feats is not None else None)

    @property
    def names(self) -> tuple[str, ...]:
        return self.cfg.names

    @torch.no_grad()
    def probs(self, vectors: np.ndarray, batch: int = 8192) -> np.ndarray:
        """``(N, dim)`` vectors → ``(N, n_tags)`` float32 probabilities."""
        x = np.asarray(vectors, np.float32).reshape(-1, self.cfg.dim)
        out = [torch.sigmoid(self(torch.from_numpy(x[i:i + batch]))[0]).numpy()
               for i in range(0, len(x), batch)]
        return np.concatenate(out) if out else np.zeros((0, len(self.names)), np.float32)

    def frozen(self) -> TagHead:
        """The same head for inference in NumPy (:class:`lyrebird.mulan.tag_head.TagHead`)."""
        return TagHead(self.cfg, {k: v.detach().float().numpy().copy()
                                  for k, v in self.state_dict().items()})


__all__ = ["TagHeadNet"]
