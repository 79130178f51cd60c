"""What a probe run does (a light module: no torch, so ``lyrebird probe --help`` reads its
defaults without loading the probe stack)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

MAX_EPOCHS = 40
"""Epoch limit of a probe (the grid's early-stopping schedule, :class:`~.grid.GridSpec`)."""
PATIENCE = 5
"""Epochs without a better validation score before a probe stops."""


@dataclass(frozen=True)
class ProbeOptions:
    """What a run does.

    Attributes:
        grid: ``"full"`` (216 configurations) or ``"marble"`` (one MLP) on the main embedding.
        layers: also probe every encoder layer (with :data:`~.grid.MARBLE`).
        baselines: add random-init twins and the hand-crafted features.
        cache_dir: feature cache (``None`` = no cache).
        max_epochs, patience: early-stopping schedule of the grid.
        halving: successive halving inside the grid (see :mod:`~.grid`).
        tsne_points: test points per t-SNE panel (0 = no t-SNE data).
    """

    grid: str = "full"
    layers: bool = True
    baselines: bool = True
    cache_dir: Path | None = None
    max_epochs: int = MAX_EPOCHS
    patience: int = PATIENCE
    halving: bool = True
    tsne_points: int = 400
