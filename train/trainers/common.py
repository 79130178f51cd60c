"""Lightning plumbing shared by every trainer: trainer factory, schedule, logging, export.

Lightning is used here (``train/``) only; models stay plain ``nn.Module``s in ``encoders/``.
Every run directory holds ``checkpoints/last.ckpt`` (resume), ``logs/`` (CSV metrics),
``training_curve.png`` and the exported ``model/`` (safetensors + config.json).
"""

from __future__ import annotations

import math
import sys
import time
from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback, ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger

from .run_config import RunConfig  # defined in a light module; the trainers import it from here


def cosine_with_warmup(optimizer: torch.optim.Optimizer, warmup: int,
                       total: int) -> torch.optim.lr_scheduler.LambdaLR:
    """Linear warm-up to the peak lr over ``warmup`` steps, then cosine decay to 0 at ``total``."""

    def f(step: int) -> float:
        if step < warmup:
            return (step + 1) / max(1, warmup)
        prog = min(1.0, (step - warmup) / max(1, total - warmup))
        return 0.5 * (1.0 + math.cos(math.pi * prog))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, f)


def with_schedule(optimizer: torch.optim.Optimizer, run: RunConfig) -> dict:
    """Lightning's ``configure_optimizers`` answer: ``optimizer`` with the run's warm-up and
    cosine decay (:func:`cosine_with_warmup`), stepped every optimisation step."""
    sched = cosine_with_warmup(optimizer, run.warmup_steps, run.max_steps)
    return {"optimizer": optimizer, "lr_scheduler": {"scheduler": sched, "interval": "step"}}


class LogLines(Callback):
    """Plain progress lines (step, loss, throughput) when stderr is not a TTY."""

    def __init__(self, every: int = 20):
        self.every, self.t0 = every, time.monotonic()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        step = trainer.global_step
        if trainer.is_global_zero and step % self.every == 0:
            m = {k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("train")}
            parts = " ".join(f"{k}={v:.4f}" for k, v in sorted(m.items()))
            print(f"step {step}/{trainer.max_steps} {parts} ({time.monotonic() - self.t0:.0f} s)",
                  file=sys.stderr, flush=True)


def make_trainer(out_dir: Path, run: RunConfig) -> L.Trainer:
    """A Trainer writing checkpoints and CSV logs under ``out_dir``.

    bf16 autocast on CUDA, fp32 on CPU; gradient clipping; DDP when ``strategy="ddp"``
    (gloo on CPU, NCCL on GPU) across ``devices`` × ``num_nodes`` processes.
    """
    precision = run.precision or ("bf16-mixed" if torch.cuda.is_available() else "32-true")
    tty = sys.stderr.isatty()
    ckpt = ModelCheckpoint(dirpath=out_dir / "checkpoints", save_last=True, save_top_k=0,
                           every_n_train_steps=run.ckpt_every)
    callbacks: list[Callback] = [ckpt] + ([] if tty else [LogLines()])
    return L.Trainer(
        default_root_dir=out_dir, max_steps=run.max_steps, accelerator=run.accelerator,
        devices=run.devices, num_nodes=run.num_nodes, strategy=run.strategy,
        precision=precision, gradient_clip_val=run.grad_clip, callbacks=callbacks,
        logger=CSVLogger(out_dir, name="logs"), enable_progress_bar=tty,
        val_check_interval=run.val_every, check_val_every_n_epoch=None,
        log_every_n_steps=run.log_every, enable_model_summary=False, num_sanity_val_steps=0,
        use_distributed_sampler=True,
    )


def resume_path(out_dir: Path) -> str | None:
    """``checkpoints/last.ckpt`` of a previous run in ``out_dir``, if any."""
    p = out_dir / "checkpoints" / "last.ckpt"
    return str(p) if p.is_file() else None


def read_curve(out_dir: Path):
    """The run's CSV metrics over all (resumed) sessions, by step (empty if none yet).

    Each session logs to its own ``logs/version_N``; a step logged twice keeps the later value.
    """
    import pandas as pd

    parts = sorted((out_dir / "logs").glob("version_*/metrics.csv"),
                   key=lambda p: int(p.parent.name.split("_")[1]))
    frames = [pd.read_csv(p).assign(_session=i) for i, p in enumerate(parts)]
    if not frames:
        return pd.DataFrame()
    df = pd.concat(frames, ignore_index=True)
    out = []
    for col in [c for c in df.columns if c not in ("step", "epoch", "_session")]:
        d = df[["step", "_session", col]].dropna().sort_values(["step", "_session"])
        out.append(d.drop_duplicates("step", keep="last").set_index("step")[col])
    return pd.concat(out, axis=1).reset_index().sort_values("step")


def plot_curve(out_dir: Path, keys: tuple[str, ...] = ("train_loss", "val_loss")) -> Path | None:
    """Write ``training_curve.png`` (loss against step) from the CSV log."""
    df = read_curve(out_dir)
    if df.empty:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    for k in keys:
        if k in df.columns:
            d = df[["step", k]].dropna()
            ax.plot(d["step"], d[k], label=k, marker="." if k.startswith("val") else None)
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    path = out_dir / "training_curve.png"
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
