"""Myna pretraining with Lightning: module, data module and the ``train_myna`` entry point."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import lightning as L
import numpy as np
import torch

from lyrebird.encoders.checkpoint import current_command, save_checkpoint
from lyrebird.encoders.configs import config_from_dict, config_to_dict
from lyrebird.encoders.myna import MynaConfig, MynaEncoder

from .common import RunConfig, cosine_with_warmup, make_trainer, plot_curve, read_curve, resume_path
from .melcache import MelCache, TwoViewDataset, build_mel_cache

log = logging.getLogger("lyrebird.train")


class MynaModule(L.LightningModule):
    """Contrastive token-masking pretraining of a :class:`MynaEncoder` (Algorithm 1, seed 000)."""

    def __init__(self, config: dict, run: dict, preset: str | None = None):
        super().__init__()
        self.save_hyperparameters()  # plain dicts: resumable with torch.load(weights_only=True)
        self.cfg = config_from_dict(MynaConfig, config)
        self.run_cfg = config_from_dict(RunConfig, run)
        self.model = MynaEncoder(self.cfg)

    def _gather(self, z: torch.Tensor) -> torch.Tensor:
        """``(B, P)`` → ``(world * B, P)`` with gradients (global negatives under DDP)."""
        return self.all_gather(z, sync_grads=True).reshape(-1, z.shape[-1])

    def training_step(self, batch, batch_idx):
        v1, v2 = batch
        gather = self._gather if self.trainer.world_size > 1 else None
        loss, parts = self.model.contrastive_loss(v1, v2, gather=gather)
        self.log("train_loss", loss, prog_bar=True, sync_dist=False)
        for k, v in parts.items():
            self.log(f"train_loss_{k}", v)
        return loss

    def validation_step(self, batch, batch_idx):
        v1, v2 = batch
        g = torch.Generator(device=v1.device).manual_seed(1000 + batch_idx)  # fixed masks
        loss, _ = self.model.contrastive_loss(v1, v2, generator=g)
        self.log("val_loss", loss, prog_bar=True, sync_dist=True)

    def configure_optimizers(self):
        r = self.run_cfg
        opt = torch.optim.Adam(self.model.parameters(), lr=r.lr, weight_decay=r.weight_decay,
                               fused=True)
        sched = cosine_with_warmup(opt, r.warmup_steps, r.max_steps)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}


class TwoViewDataModule(L.LightningDataModule):
    """Train/valid loaders of two-view pairs over one or more :class:`MelCache` s."""

    def __init__(self, caches: list[MelCache], clip_frames: int, batch_size: int,
                 num_workers: int = 0, seed: int = 0):
        super().__init__()
        self.bs, self.nw = batch_size, num_workers
        train_sets, valid_sets = [], []
        for k, cache in enumerate(caches):
            train, valid = cache.split("train"), cache.split("valid")
            if len(train) == 0:  # a folder or a manifest without splits: hold out 5 % by row
                train = np.arange(len(cache.index))
            if len(valid) == 0:
                rng = np.random.default_rng(seed)
                valid = rng.choice(train, size=max(2, len(train) // 20), replace=False)
                train = np.setdiff1d(train, valid)
            train_sets.append(TwoViewDataset(cache, train, clip_frames, seed + 10 * k))
            valid_sets.append(TwoViewDataset(cache, valid, clip_frames, seed + 10 * k + 1))
        self.train_sets = train_sets
        self.train_ds = torch.utils.data.ConcatDataset(train_sets)
        self.valid_ds = torch.utils.data.ConcatDataset(valid_sets)

    def train_dataloader(self):
        for ds in self.train_sets:  # fresh crops every epoch, reproducibly
            ds.epoch = self.trainer.current_epoch if self.trainer else 0
        return torch.utils.data.DataLoader(
            self.train_ds, batch_size=self.bs, shuffle=True, drop_last=len(self.train_ds) > self.bs,
            num_workers=self.nw, persistent_workers=self.nw > 0)

    def val_dataloader(self):
        return torch.utils.data.DataLoader(self.valid_ds, batch_size=self.bs, num_workers=0)


def train_myna(data: str | Path | list[str | Path], out_dir: str | Path, cfg: MynaConfig,
               run: RunConfig,
               preset: str | None = None, resume: bool = True,
               fp16_export: bool = False) -> Path | None:
    """Pretrain Myna on ``data`` (manifests and/or audio folders); returns the exported model dir
    (``None`` on DDP ranks other than 0).

    Resumes from ``out_dir/checkpoints/last.ckpt`` when present and ``resume``. The export
    (``out_dir/model``) is loadable with ``get_encoder(path)``.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    L.seed_everything(run.seed, workers=True, verbose=False)
    sources = [data] if isinstance(data, str | Path) else list(data)
    caches = [build_mel_cache(d, cfg.mel) for d in sources]
    dm = TwoViewDataModule(caches, cfg.clip_frames, run.batch_size, run.num_workers, run.seed)
    module = MynaModule(config_to_dict(cfg), config_to_dict(run), preset)
    trainer = make_trainer(out, run)
    ckpt = resume_path(out) if resume else None
    if ckpt:
        log.info("resuming from %s", ckpt)
    trainer.fit(module, datamodule=dm, ckpt_path=ckpt, weights_only=True)
    export = out / "model"
    if trainer.is_global_zero:
        curve = read_curve(out)
        last = {k: float(curve[k].dropna().iloc[-1]) for k in ("train_loss", "val_loss")
                if k in curve.columns and curve[k].notna().any()}
        save_checkpoint(export, module.model.state_dict(), kind="myna", preset=preset,
                        config=config_to_dict(cfg), mel=config_to_dict(cfg.mel),
                        command=current_command(), fp16=fp16_export,
                        extra={"steps": trainer.global_step, "data": [str(d) for d in sources],
                               "clips": {"train": len(dm.train_ds), "valid": len(dm.valid_ds)},
                               "final": last, "run": config_to_dict(run)})
        plot_curve(out)
        return export
    return None


def myna_config(preset: str, **overrides) -> MynaConfig:
    """Preset ``"<size>-<patch>"`` (see ``lyrebird.encoders.myna.presets``) with overrides."""
    from lyrebird.encoders.myna import presets

    p = presets()
    if preset not in p:
        raise ValueError(f"unknown Myna preset {preset!r}; expected one of {sorted(p)}")
    return dataclasses.replace(p[preset], **{k: v for k, v in overrides.items() if v is not None})
