"""Masked-token-prediction pretraining (MuQ family) with Lightning, and ``train_muq``.

Same plumbing as Myna (``train.common``): resumable ``checkpoints/last.ckpt``, CSV logs,
``training_curve.png``, bf16 on CUDA, DDP, and an exported ``model/`` loadable with
``get_encoder(path)``. Tokens are computed online from the clean mel of each batch by a frozen
tokenizer, fitted first if needed (once, into ``OUT/tokenizer``; DDP workers started later
reuse it): a Mel-RVQ is trained, a frozen tokenizer gets its input statistics. Iterative refinement (MuQ_iter) fits the
tokenizer on layer latents of a previous model instead.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from pathlib import Path

import lightning as L
import numpy as np
import torch

from lyrebird.core.checkpoint import current_command, save_checkpoint
from lyrebird.core.configs import config_from_dict, config_to_dict
from lyrebird.encoders.muq import MuQConfig, MuQEncoder
from lyrebird.encoders.tokenizer_io import tokenizer_from_config

from .common import RunConfig, make_trainer, plot_curve, read_curve, resume_path, with_schedule
from .melcache import MelCache, build_mel_cache, crop
from .melrvq import fit_tokenizer, split_positions, stacked

log = logging.getLogger("lyrebird.train")


def pad_value(cache: MelCache) -> float:
    """The cached feature value of digital silence (what zero-padded audio would give)."""
    c = cache.cfg
    v = float(np.log(c.log_eps)) if c.compression == "log" else -100.0 if c.compression == "db" else 0.0
    if c.normalize is not None:
        v = (v - c.normalize[0]) / c.normalize[1]
    return v


class CropDataset(torch.utils.data.Dataset):
    """One random ``clip_frames``-frame crop (25 Hz, stacked) per clip.

    Returns ``(feats (T, F) float32, valid)``: frames past ``valid`` are padding (the clip was
    shorter than a crop). Crops are drawn from a generator seeded by ``(seed, epoch, index)``.
    """

    def __init__(self, cache: MelCache, positions: np.ndarray, clip_frames: int, stack: int,
                 seed: int = 0):
        self.cache, self.pos, self.frames, self.stack, self.seed = (cache, positions, clip_frames,
                                                                    stack, seed)
        self.epoch = 0
        self.pad = pad_value(cache)

    def __len__(self) -> int:
        return len(self.pos)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        mel = self.cache.clip(int(self.pos[i]))
        need = self.frames * self.stack
        rng = np.random.default_rng([self.seed, self.epoch, i])
        start = int(rng.integers(0, max(1, mel.shape[1] - need + 1)))
        valid = min(need, mel.shape[1] - start) // self.stack
        return torch.from_numpy(stacked(crop(mel, start, need, self.pad), self.stack)), valid


class MuQDataModule(L.LightningDataModule):
    """Train/valid loaders of stacked-mel crops over one or more :class:`MelCache` s."""

    def __init__(self, caches: MelCache | list[MelCache], clip_frames: int, stack: int,
                 batch_size: int, num_workers: int = 0, seed: int = 0):
        super().__init__()
        caches = [caches] if isinstance(caches, MelCache) else caches
        self.bs, self.nw = batch_size, num_workers
        parts = {"train": [], "valid": []}
        for c in caches:
            train, valid = split_positions(c, seed)
            parts["train"].append(CropDataset(c, train, clip_frames, stack, seed))
            parts["valid"].append(CropDataset(c, valid, clip_frames, stack, seed + 1))
        self.train_parts = parts["train"]
        self.train_ds = torch.utils.data.ConcatDataset(parts["train"])
        self.valid_ds = torch.utils.data.ConcatDataset(parts["valid"])

    def train_dataloader(self):
        for part in self.train_parts:
            part.epoch = self.trainer.current_epoch if self.trainer else 0
        return torch.utils.data.DataLoader(
            self.train_ds, batch_size=self.bs, shuffle=True, drop_last=len(self.train_ds) > self.bs,
            num_workers=self.nw, persistent_workers=self.nw > 0)

    def val_dataloader(self):
        return torch.utils.data.DataLoader(self.valid_ds, batch_size=self.bs, num_workers=0)


class MuQModule(L.LightningModule):
    """Masked token prediction of a :class:`MuQEncoder` against a frozen tokenizer."""

    def __init__(self, config: dict, run: dict, preset: str | None = None):
        super().__init__()
        self.save_hyperparameters()  # plain dicts: resumable with torch.load(weights_only=True)
        self.cfg = config_from_dict(MuQConfig, config)
        self.run_cfg = config_from_dict(RunConfig, run)
        self.model = MuQEncoder(self.cfg)
        self.tokenizer = tokenizer_from_config(self.cfg.tokenizer).requires_grad_(False)

    def _step(self, batch, generator: torch.Generator | None = None):
        feats, valid = batch
        pad = torch.arange(feats.shape[1], device=feats.device)[None, :] >= valid[:, None]
        pad_mask = pad if bool(pad.any()) else None
        with torch.no_grad(), torch.autocast(feats.device.type, enabled=False):
            tokens = self.tokenizer.encode_sequences(feats.float(), pad_mask)
        return self.model.masked_prediction_loss(feats, tokens, pad_mask, generator)

    def training_step(self, batch, batch_idx):
        loss, m = self._step(batch)
        self.log("train_loss", loss, prog_bar=True)
        for k in ("acc", "chance", "ce", "recon", "masked"):
            if k in m:
                self.log(f"train_{k}", m[k], prog_bar=k == "acc")
        return loss

    def validation_step(self, batch, batch_idx):
        g = torch.Generator(device=batch[0].device).manual_seed(1000 + batch_idx)  # fixed masks
        loss, m = self._step(batch, g)
        self.log("val_loss", loss, prog_bar=True, sync_dist=True)
        for k in ("acc", "chance", "recon"):
            if k in m:
                self.log(f"val_{k}", m[k], sync_dist=True)

    def train(self, mode: bool = True):
        super().train(mode)
        self.tokenizer.eval()  # frozen targets
        return self

    def configure_optimizers(self):
        r = self.run_cfg
        opt = torch.optim.AdamW(self.model.parameters(), lr=r.lr, weight_decay=r.weight_decay)
        return with_schedule(opt, r)


def _rank() -> int:
    """Global rank from the launcher's environment (0 when not distributed)."""
    return int(os.environ.get("RANK", os.environ.get("LOCAL_RANK", "0")))


def _wait_for(path: Path, timeout_s: float = 4 * 3600.0) -> None:
    t0 = time.monotonic()
    while not path.is_file():
        if time.monotonic() - t0 > timeout_s:
            raise TimeoutError(f"rank {_rank()}: '{path}' did not appear within {timeout_s:.0f} s")
        time.sleep(2.0)


def prepare_tokenizer(cfg: MuQConfig, caches: list[MelCache], out: Path, *, steps: int = 2000,
                      iter_from: str | Path | None = None, iter_layer: int | None = None,
                      seed: int = 0) -> MuQConfig:
    """Return ``cfg`` with a usable tokenizer in ``out/tokenizer`` (unless one is there already
    or ``cfg.tokenizer.path`` is set): the input statistics of a frozen kind, a fitted
    Mel-RVQ or, with ``iter_from``, a latent RVQ on layer ``iter_layer`` of that model."""
    t = cfg.tokenizer
    if iter_from is None and (t.path or not (t.needs_fit or t.standardize)):
        return cfg
    tdir = out / "tokenizer"
    if not (tdir / "config.json").is_file():
        if _rank() == 0:
            fit_tokenizer(caches, t, tdir, steps=steps, encoder=iter_from, layer=iter_layer,
                          clip_frames=cfg.clip_frames, seed=seed)
        else:  # launched all at once (torchrun): rank 0 fits, the others wait for it
            _wait_for(tdir / "config.json")
    from lyrebird.encoders.tokenizer_io import load_tokenizer
    fitted = load_tokenizer(tdir).cfg
    return dataclasses.replace(cfg, tokenizer=dataclasses.replace(fitted, path=str(tdir)))


def train_muq(data: str | Path | list[str | Path], out_dir: str | Path, cfg: MuQConfig,
              run: RunConfig,
              preset: str | None = None, resume: bool = True, fp16_export: bool = False,
              tokenizer_steps: int = 2000, iter_from: str | Path | None = None,
              iter_layer: int | None = None) -> Path:
    """Pretrain a MuQ-family encoder on ``data`` (manifests and/or audio folders); returns the
    exported model directory.

    Resumes from ``out_dir/checkpoints/last.ckpt`` when present and ``resume``. The export
    (``out_dir/model``) holds the backbone and heads (not the tokenizer, which lives in
    ``out_dir/tokenizer`` when fitted) and loads with ``get_encoder(path)``.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    L.seed_everything(run.seed, workers=True, verbose=False)
    sources = [data] if isinstance(data, str | Path) else list(data)
    caches = [build_mel_cache(d, cfg.mel) for d in sources]
    cfg = prepare_tokenizer(cfg, caches, out, steps=tokenizer_steps, iter_from=iter_from,
                            iter_layer=iter_layer, seed=run.seed)
    dm = MuQDataModule(caches, cfg.clip_frames, cfg.mel.stack, run.batch_size, run.num_workers,
                       run.seed)
    module = MuQModule(config_to_dict(cfg), config_to_dict(run), preset)
    trainer = make_trainer(out, run)
    ckpt = resume_path(out) if resume else None
    if ckpt:
        log.info("resuming from %s", ckpt)
    trainer.fit(module, datamodule=dm, ckpt_path=ckpt, weights_only=True)
    export = out / "model"
    if trainer.is_global_zero:
        curve = read_curve(out)
        keys = ("train_loss", "train_acc", "val_loss", "val_acc", "val_chance")
        last = {k: float(curve[k].dropna().iloc[-1]) for k in keys
                if k in curve.columns and curve[k].notna().any()}
        save_checkpoint(export, module.model.state_dict(), kind="muq", preset=preset,
                        config=config_to_dict(cfg), mel=config_to_dict(cfg.mel),
                        command=current_command(), fp16=fp16_export,
                        extra={"steps": trainer.global_step,
                               "data": [str(d) for d in sources],
                               "clips": {"train": len(dm.train_ds), "valid": len(dm.valid_ds)},
                               "final": last, "run": config_to_dict(run)})
        plot_curve(out)
    return export
