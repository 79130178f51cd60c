"""MuLan contrastive training with Lightning: dataset, data module, module, entry point.

Data: a manifest (``path``, ``start_s``, ``end_s``, ``split``, ``work_id``, ``captions``,
``tags``), cut into training items and cached through the frozen towers by
:mod:`lyrebird.train.trainers.mulan_data`; each item's text is sampled again every epoch from its
clip's captions and keyword captions, so training only runs the small trained heads — fast on
CPU. Trainable towers read raw audio / text instead.

Negatives are the other pairs of the batch (gathered across devices under DDP); pairs from the
same work or with the same text are not used as negatives.
"""

from __future__ import annotations

import logging
import os
import zlib
from pathlib import Path

import lightning as L
import numpy as np
import pandas as pd
import torch

from lyrebird.core.configs import config_from_dict, config_to_dict
from lyrebird.core.fingerprint import module_fingerprint
from lyrebird.encoders import AudioError, load_audio
from lyrebird.mulan.config import MuLanConfig
from lyrebird.mulan.model import MuLan
from lyrebird.mulan.zeroshot import (
    EmbeddingCollapseError,
    check_text_spread,
    mtt_top50,
    text_spread,
)

from .common import RunConfig, make_trainer, plot_curve, read_curve, resume_path, with_schedule
from .mulan_data import MuLanDataConfig, load_sources

log = logging.getLogger("lyrebird.train")

N_TEACHER = len(mtt_top50())  # the auxiliary targets: the teacher's MTT top-50 probabilities


# --------------------------------------------------------------------------- data
class PairDataset(torch.utils.data.Dataset):
    """Items of one split: ``(audio, text)`` pairs with a caption sampled per epoch.

    Returns a dict with ``audio`` (cached ``(T, D)`` features, or the raw window ``(L,)``
    plus ``valid``), ``text`` (cached ``(L, H)`` states, or the raw string), ``text_id``,
    ``work`` (int hash) and ``teacher`` (``(50,)`` targets; NaN when the item has none).
    """

    def __init__(self, items: pd.DataFrame, texts: pd.DataFrame, feats: dict,
                 sample_rate: int, window: int, tag_p: float, seed: int, fixed: bool = False):
        self.index = items.index.to_numpy()  # positions in the full item table (cache rows)
        self.items, self.texts, self.feats = items.reset_index(drop=True), texts, feats
        self.sr, self.window, self.tag_p, self.seed, self.fixed = sample_rate, window, tag_p, \
            seed, fixed
        self.epoch = 0

    def __len__(self) -> int:
        return len(self.items)

    def choose_text(self, i: int) -> int:
        r = self.items.iloc[i]
        rng = np.random.default_rng([self.seed, 0 if self.fixed else self.epoch, i])
        caps, kw = list(r["caps"]), list(r["tagcaps"])
        use_kw = kw and (not caps or rng.random() < self.tag_p)
        pool = kw if use_kw else caps
        return int(pool[int(rng.integers(len(pool)))])

    def __getitem__(self, i: int) -> dict:
        r = self.items.iloc[i]
        t = self.choose_text(i)
        out: dict = {"text_id": t, "work": zlib.crc32(str(r["work"]).encode()) & 0x7FFFFFFF}
        target = r["teacher"] if "teacher" in r.index else None
        out["teacher"] = (torch.from_numpy(np.asarray(target, dtype=np.float32))
                          if isinstance(target, np.ndarray)
                          else torch.full((N_TEACHER,), float("nan")))
        if self.feats.get("audio") is not None:
            out["audio"] = torch.from_numpy(self.feats["audio"][int(self.index[i])])
        else:
            try:
                x = load_audio(r["path"], self.sr, offset_s=r["offset_s"], duration_s=r["dur_s"])
            except AudioError:
                x = np.zeros(1, np.float32)
            x = x[: self.window]
            out["valid"] = len(x)
            out["wave"] = torch.from_numpy(np.pad(x, (0, self.window - len(x))))
        if self.feats.get("text") is not None:
            out["text"] = torch.from_numpy(self.feats["text"][t])
        else:
            out["text_str"] = self.texts["text"].iloc[t]
        return out


def _pad(seqs: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    n = max(len(s) for s in seqs)
    x = torch.zeros(len(seqs), n, seqs[0].shape[-1])
    m = torch.zeros(len(seqs), n, dtype=torch.bool)
    for i, s in enumerate(seqs):
        x[i, : len(s)] = s
        m[i, : len(s)] = True
    return x, m


def collate(batch: list[dict]) -> dict:
    """Pad cached sequences (with masks) and stack the rest."""
    out: dict = {"text_id": torch.tensor([b["text_id"] for b in batch]),
                 "work": torch.tensor([b["work"] for b in batch]),
                 "teacher": torch.stack([b["teacher"] for b in batch])}
    if "audio" in batch[0]:
        out["audio"], out["audio_mask"] = _pad([b["audio"] for b in batch])
    else:
        out["wave"] = torch.stack([b["wave"] for b in batch])
        out["valid"] = torch.tensor([b["valid"] for b in batch])
    if "text" in batch[0]:
        out["text"], out["text_mask"] = _pad([b["text"] for b in batch])
    else:
        out["text_str"] = [b["text_str"] for b in batch]
    return out


class MuLanDataModule(L.LightningDataModule):
    """Train / valid loaders (valid: the manifest's valid split, else 5 % of train works)."""

    def __init__(self, items: pd.DataFrame, texts: pd.DataFrame, feats: dict, model: MuLan,
                 data: MuLanDataConfig, batch_size: int, num_workers: int = 0, seed: int = 0):
        super().__init__()
        train = items[items["split"] == "train"]
        valid = items[items["split"] == "valid"]
        if train.empty:
            raise ValueError("the manifest has no 'train' rows to train on")
        if valid.empty:  # hold out 5 % of the training works
            works = np.array(sorted(train["work"].unique()))
            rng = np.random.default_rng(seed)
            held = set(rng.choice(works, size=max(1, len(works) // 20), replace=False))
            valid = train[train["work"].isin(held)]
            train = train[~train["work"].isin(held)]
        sr, win = model.audio.sample_rate, model.audio.window
        self.train_ds = PairDataset(train, texts, feats, sr, win, data.tag_caption_p, seed)
        self.valid_ds = PairDataset(valid, texts, feats, sr, win, 0.0, seed + 1, fixed=True)
        self.bs, self.nw = batch_size, num_workers

    def train_dataloader(self):
        self.train_ds.epoch = self.trainer.current_epoch if self.trainer else 0
        return torch.utils.data.DataLoader(
            self.train_ds, batch_size=self.bs, shuffle=True, collate_fn=collate,
            drop_last=len(self.train_ds) > self.bs, num_workers=self.nw,
            persistent_workers=False)  # fresh workers each epoch see the new ``epoch``

    def val_dataloader(self):
        return torch.utils.data.DataLoader(self.valid_ds, batch_size=self.bs, collate_fn=collate,
                                           num_workers=0)


# --------------------------------------------------------------------------- module
class MuLanModule(L.LightningModule):
    """Trains the non-frozen parts of a :class:`MuLan` with the symmetric DCL/InfoNCE loss,
    plus (``teacher_weight`` > 0) an auxiliary loss: a linear probe on the normalised audio
    embedding predicts the teacher's MTT top-50 probabilities (training only; not exported)."""

    def __init__(self, config: dict, run: dict, teacher_weight: float = 0.0):
        super().__init__()
        self.save_hyperparameters()  # plain dicts: resumable with weights_only=True
        self.cfg = config_from_dict(MuLanConfig, config)
        self.run_cfg = config_from_dict(RunConfig, run)
        self.model = MuLan(self.cfg)
        self.teacher_weight = float(teacher_weight)
        self.teacher_head = None
        if self.teacher_weight > 0:
            self.teacher_head = torch.nn.Linear(self.cfg.dim, N_TEACHER)
            with torch.no_grad():  # tags are sparse: start from p = 0.1, not 0.5
                self.teacher_head.bias.fill_(float(np.log(0.1 / 0.9)))
        self.strict_loading = False  # frozen pretrained weights are not in checkpoints
        self._val: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []

    def embed_batch(self, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
        """Unnormalised ``(B, dim)`` audio and text embeddings of a collated batch."""
        m = self.model
        if "audio" not in batch:
            za = m.audio(batch["wave"], batch["valid"])
        elif m.cfg.audio.n_layers == 0:  # cached pooled features: one (1, D) row per item
            za = m.audio.head(batch["audio"][:, 0])
        else:
            za = m.audio.head(batch["audio"], batch["audio_mask"])
        if "text" in batch:
            zt = m.text.head(batch["text"], batch["text_mask"])
        else:
            zt = m.text(batch["text_str"])
        return za, zt

    def _loss(self, batch: dict, za: torch.Tensor, zt: torch.Tensor) -> torch.Tensor:
        work, tid = batch["work"], batch["text_id"]
        if self.trainer.world_size > 1:  # global negatives
            za = self.all_gather(za, sync_grads=True).reshape(-1, za.shape[-1])
            zt = self.all_gather(zt, sync_grads=True).reshape(-1, zt.shape[-1])
            work = self.all_gather(work).reshape(-1)
            tid = self.all_gather(tid).reshape(-1)
        exclude = (work[:, None] == work[None, :]) | (tid[:, None] == tid[None, :])
        return self.model.contrastive_loss(za, zt, exclude)

    def teacher_loss(self, za: torch.Tensor, target: torch.Tensor) -> torch.Tensor | None:
        """Binary cross-entropy of the probe on ``za`` ``(B, dim)`` against ``target``
        ``(B, 50)`` probabilities, over the rows that have targets; ``None`` when none has."""
        have = ~torch.isnan(target).any(dim=1)
        if self.teacher_head is None or not bool(have.any()):
            return None
        z = torch.nn.functional.normalize(za[have], dim=-1) * za.shape[-1] ** 0.5  # unit var.
        logits = self.teacher_head(z)
        return torch.nn.functional.binary_cross_entropy_with_logits(logits, target[have])

    def training_step(self, batch, batch_idx):
        za, zt = self.embed_batch(batch)
        loss = self._loss(batch, za, zt)
        aux = self.teacher_loss(za, batch["teacher"])
        if aux is not None:
            self.log("train_teacher_bce", aux)
            loss = loss + self.teacher_weight * aux
        self.log("train_loss", loss, prog_bar=True)
        self.log("tau", self.model.tau.detach())
        return loss

    def validation_step(self, batch, batch_idx):
        za, zt = self.embed_batch(batch)
        loss = self._loss(batch, za, zt)
        self.log("val_loss", loss, prog_bar=True, sync_dist=True)
        self._val.append((za.detach().cpu(), zt.detach().cpu(), batch["text_id"].cpu()))

    def on_validation_epoch_end(self):
        if not self._val:
            return
        from lyrebird.mulan.metrics import retrieval_metrics

        za = torch.nn.functional.normalize(torch.cat([v[0] for v in self._val]), dim=-1)
        zt = torch.nn.functional.normalize(torch.cat([v[1] for v in self._val]), dim=-1)
        tid = torch.cat([v[2] for v in self._val])
        self._val.clear()
        rel = (tid[:, None] == tid[None, :]).numpy()  # same text → relevant
        r = retrieval_metrics((zt @ za.T).numpy(), rel)
        self.log("val_t2m_R@10", r["R@10"], sync_dist=True)

    def configure_optimizers(self):
        r = self.run_cfg
        params = [p for p in self.parameters() if p.requires_grad]  # model + teacher probe
        decay = [p for p in params if p.ndim >= 2]
        other = [p for p in params if p.ndim < 2]
        opt = torch.optim.AdamW([{"params": decay, "weight_decay": r.weight_decay},
                                 {"params": other, "weight_decay": 0.0}], lr=r.lr)
        return with_schedule(opt, r)

    def on_train_epoch_start(self) -> None:
        # Lightning builds the train loader once: advance the caption draw every epoch (each
        # epoch's workers are started after this hook and copy the dataset with it).
        dm = getattr(self.trainer, "datamodule", None)
        if dm is not None and hasattr(dm, "train_ds"):
            dm.train_ds.epoch = self.current_epoch

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        skip = tuple("model." + p for p in self.model.frozen_prefixes())
        if skip:
            checkpoint["state_dict"] = {k: v for k, v in checkpoint["state_dict"].items()
                                        if not k.startswith(skip)}


# --------------------------------------------------------------------------- entry point
def train_mulan(manifest: str | os.PathLike | list[str | os.PathLike],
                out_dir: str | os.PathLike, cfg: MuLanConfig,
                run: RunConfig, data: MuLanDataConfig = MuLanDataConfig(), resume: bool = True,
                fp16_export: bool = False, cache_dir: str | os.PathLike | None = None
                ) -> Path | None:
    """Train MuLan on the train split of one or more manifests (validating on their valid
    splits); returns the exported model directory (``None`` on DDP ranks other than 0).
    Resumes from ``out_dir/checkpoints/last.ckpt``.

    The export (``out_dir/model``) holds only the trained parts and is loadable with
    ``MuLan.load(path)``. A text-collapse check runs on the MTT prompts; a collapsed model is
    still exported (``prompt_spread.collapsed`` in its config) but logged as an error.
    """
    manifests = [Path(m) for m in (manifest if isinstance(manifest, list | tuple)
                                   else [manifest])]
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    L.seed_everything(run.seed, workers=True, verbose=False)
    module = MuLanModule(config_to_dict(cfg), config_to_dict(run), data.teacher_weight)
    model = module.model
    fp = module_fingerprint(model.audio.encoder)
    if not cfg.audio.train_encoder:  # record what the frozen tower was trained on
        import dataclasses

        cfg = dataclasses.replace(cfg, audio=dataclasses.replace(cfg.audio,
                                                                 encoder_fingerprint=fp))
        model.cfg = module.cfg = cfg
        module.hparams["config"] = config_to_dict(cfg)
    items, texts, feats = load_sources(manifests, model, data, fp, cache_dir)
    model.train()
    dm = MuLanDataModule(items, texts, feats, model, data, run.batch_size, run.num_workers,
                         run.seed)
    log.info("MuLan: %d train / %d valid items, %d texts, %d with teacher targets",
             len(dm.train_ds), len(dm.valid_ds), len(texts),
             int(items["teacher"].notna().sum()))
    trainer = make_trainer(out, run)
    ckpt = resume_path(out) if resume else None
    if ckpt:
        log.info("resuming from %s", ckpt)
    trainer.fit(module, datamodule=dm, ckpt_path=ckpt, weights_only=True)
    if not trainer.is_global_zero:
        return None
    model.eval()
    from lyrebird.mulan.zeroshot import DEFAULT_TEMPLATE

    tags = list(mtt_top50())
    try:
        spread = check_text_spread(model.prompt_embeddings(tags, [DEFAULT_TEMPLATE]),
                                   [DEFAULT_TEMPLATE.format(t) for t in tags])
        spread["collapsed"] = False
    except EmbeddingCollapseError as e:  # export anyway (the run is not lost), but loudly
        log.error("%s", e)
        spread = {**text_spread(model.prompt_embeddings(tags, [DEFAULT_TEMPLATE])),
                  "collapsed": True}
    curve = read_curve(out)
    last = {k: float(curve[k].dropna().iloc[-1]) for k in ("train_loss", "val_loss",
                                                           "val_t2m_R@10")
            if k in curve.columns and curve[k].notna().any()}
    data_field: str | list[str] = (str(manifests[0]) if len(manifests) == 1
                                   else [str(m) for m in manifests])
    export = model.save(out / "model", fp16=fp16_export, extra={
        "steps": trainer.global_step, "data": data_field, "final": last,
        "items": {"train": len(dm.train_ds), "valid": len(dm.valid_ds)},
        "run": config_to_dict(run), "data_config": config_to_dict(data),
        "prompt_spread": spread, "tau": float(model.tau.detach())})
    plot_curve(out)
    return export
