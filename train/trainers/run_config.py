"""The settings every trainer shares (a light module: no torch, no Lightning).

The CLI reads its ``--max-steps``… defaults from :class:`RunConfig` here, so ``lyrebird --help``
does not import the training stack.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RunConfig:
    """Optimisation and hardware settings common to all trainers."""

    max_steps: int = 1000
    batch_size: int = 64
    lr: float = 3e-4
    weight_decay: float = 1e-5
    warmup_steps: int = 100
    grad_clip: float = 1.0
    devices: int | str = "auto"
    num_nodes: int = 1
    strategy: str = "auto"
    accelerator: str = "auto"
    precision: str | None = None  # None: bf16-mixed on CUDA, fp32 elsewhere
    val_every: int = 200  # steps between validations
    ckpt_every: int = 200  # steps between resumable checkpoints
    log_every: int = 10  # steps between logged training metrics
    num_workers: int = 0
    seed: int = 0
