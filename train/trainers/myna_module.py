"""Myna pretraining with Lightning: module, data module and the ``train_myna`` entry point."""

from __future__ import annotations

import logging
from pathlib import Path

import lightning as L
import numpy as np
import torch

from lyrebird.core.checkpoint import current_command, save_checkpoint
from lyrebird.core.configs import config_from_dict, config_to_dict
from lyrebird.encoders.myna import MynaConfig, MynaEncoder

from .common import RunConfig, make_trainer, plot_curve, read_curve, resume_path, with_schedule
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
        return with_schedule(opt, r)


class GroupedBatchSampler(torch.utils.data.Sampler):
    """Batches made of runs of ``per_group`` items that share a group label (hard negatives).

    Each batch holds ``batch_size // per_group`` runs, from different groups where possible:
    with ``group_by="instrument_family"`` every clip meets ``per_group - 1`` negatives of its own
    instrument family, which timbre alone cannot separate. Per epoch (:meth:`set_epoch`) the
    items of every group are shuffled and cut into runs (a group's last, short run is filled
    from its start), the runs are shuffled, and consecutive runs form batches. Reproducible
    from ``(seed, epoch)``.

    Args:
        groups: ``(N,)`` group label per item of the dataset.
        batch_size: items per batch; a multiple of ``per_group``.
        per_group: items per run of one group.
    """

    def __init__(self, groups: np.ndarray, batch_size: int, per_group: int, seed: int = 0):
        if per_group < 1 or batch_size % per_group:
            raise ValueError(f"batch size {batch_size} must be a multiple of the group run "
                             f"{per_group} (--set group_size=N)")
        self.bs, self.per, self.seed, self.epoch = batch_size, per_group, seed, 0
        labels = np.asarray(groups)
        self.members = [np.flatnonzero(labels == g) for g in np.unique(labels)]

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def _runs(self) -> list[np.ndarray]:
        rng = np.random.default_rng([self.seed, self.epoch])
        runs = []
        for m in self.members:
            m = rng.permutation(m)
            k = -(-len(m) // self.per)
            m = np.resize(m, k * self.per)  # wraps: the short last run is filled from the start
            runs += list(m.reshape(k, self.per))
        return [runs[i] for i in rng.permutation(len(runs))]

    def __iter__(self):
        runs, n = self._runs(), self.bs // self.per
        for i in range(0, len(runs) - n + 1, n):
            yield np.concatenate(runs[i : i + n]).tolist()

    def __len__(self) -> int:
        runs = sum(-(-len(m) // self.per) for m in self.members)
        return runs // (self.bs // self.per)


def item_groups(sets: list[TwoViewDataset], column: str) -> np.ndarray:
    """Group label per item of ``ConcatDataset(sets)``: the clip's ``column`` value in its
    manifest, or ``"source<k>"`` for sources without that column (e.g. a folder of audio)."""
    out = []
    for k, ds in enumerate(sets):
        idx = ds.cache.index
        col = idx[column] if column in idx.columns else None
        for pos, _, _ in ds.items:
            v = None if col is None else col.iloc[pos]
            out.append(f"source{k}" if v is None or (isinstance(v, float) and np.isnan(v))
                       else f"{k}:{v}")
    return np.asarray(out)


class TwoViewDataModule(L.LightningDataModule):
    """Train/valid loaders of two-view pairs over one or more :class:`MelCache` s.

    ``group_by`` (a manifest column) switches training batches to :class:`GroupedBatchSampler`
    runs of ``group_size`` clips sharing that label; otherwise batches are uniformly shuffled.
    """

    def __init__(self, caches: list[MelCache], clip_frames: int, batch_size: int,
                 num_workers: int = 0, seed: int = 0, group_by: str | None = None,
                 group_size: int = 32):
        super().__init__()
        self.bs, self.nw, self.seed = batch_size, num_workers, seed
        self.group_by, self.group_size = group_by, group_size
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
        epoch = self.trainer.current_epoch if self.trainer else 0
        for ds in self.train_sets:  # fresh crops every epoch, reproducibly
            ds.epoch = epoch
        if self.group_by:
            if self.trainer is not None and self.trainer.world_size > 1:
                raise ValueError("group_by batches (--set group_by=...) run in one process for now; drop it for "
                                 "multi-device training")
            sampler = GroupedBatchSampler(item_groups(self.train_sets, self.group_by), self.bs,
                                          self.group_size, self.seed)
            sampler.set_epoch(epoch)
            return torch.utils.data.DataLoader(self.train_ds, batch_sampler=sampler,
                                               num_workers=self.nw, persistent_workers=self.nw > 0)
        return torch.utils.data.DataLoader(
            self.train_ds, batch_size=self.bs, shuffle=True, drop_last=len(self.train_ds) > self.bs,
            num_workers=self.nw, persistent_workers=self.nw > 0)

    def val_dataloader(self):
        return torch.utils.data.DataLoader(self.valid_ds, batch_size=self.bs, num_workers=0)


def train_myna(data: str | Path | list[str | Path], out_dir: str | Path, cfg: MynaConfig,
               run: RunConfig,
               preset: str | None = None, resume: bool = True,
               fp16_export: bool = False, group_by: str | None = None,
               group_size: int = 32) -> Path | None:
    """Pretrain Myna on ``data`` (manifests and/or audio folders); returns the exported model dir
    (``None`` on DDP ranks other than 0).

    Resumes from ``out_dir/checkpoints/last.ckpt`` when present and ``resume``. The export
    (``out_dir/model``) is loadable with ``get_encoder(path)``. ``group_by``/``group_size``:
    hard-negative batches (see :class:`GroupedBatchSampler`).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    L.seed_everything(run.seed, workers=True, verbose=False)
    sources = [data] if isinstance(data, str | Path) else list(data)
    caches = [build_mel_cache(d, cfg.mel) for d in sources]
    dm = TwoViewDataModule(caches, cfg.clip_frames, run.batch_size, run.num_workers, run.seed,
                           group_by, group_size)
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

