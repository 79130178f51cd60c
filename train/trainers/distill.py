"""Distilling the musicnn teachers into the student audio tower (issue #25) — a sketch.

The student is the shipped encoder (``get_encoder("default")``) plus :class:`DistillHead`:
the encoder's frames ``(B, T, D)`` for one teacher window (2.992 s at 16 kHz, padded or cut
to the encoder's clip) are pooled (mean ‖ max, ``(B, 2D)``), passed through one hidden layer,
and mapped per teacher to 50 tag logits and to that teacher's penultimate features. The loss
(:func:`distill_loss`) is BCE on the teachers' probabilities plus ``feat_weight`` ×
(1 − cosine) on their features, averaged over teachers. Targets are the float16 shards of
``lyrebird teach --windows`` (:class:`ShardWindows`; clean copies only in this sketch).

Not done yet: the training entry point (``lyrebird train distill``), the valid-window fidelity
report (macro ROC-AUC against each teacher's own top tags, ≥ 0.95), and the size check of the
encoder + heads (≤ 25 MB).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

TEACHER_DIMS: dict[str, int] = {"MTT_musicnn": 200, "MSD_musicnn": 200, "MTT_vgg": 256,
                                "MSD_vgg": 256}
"""Penultimate feature width of each teacher."""


@dataclass(frozen=True)
class DistillConfig:
    """Head and loss of the distillation.

    Attributes:
        teachers: the teachers predicted (keys of :data:`TEACHER_DIMS`).
        n_tags: tags per teacher.
        hidden: width of the head's hidden layer.
        feat_weight: weight of the feature (1 − cosine) term beside the BCE term.
        lr: head learning rate; ``encoder_lr``: the encoder's (0 freezes it).
    """

    teachers: tuple[str, ...] = tuple(TEACHER_DIMS)
    n_tags: int = 50
    hidden: int = 512
    feat_weight: float = 1.0
    lr: float = 1e-3
    encoder_lr: float = 3e-5


class DistillHead(nn.Module):
    """Encoder frames ``(B, T, D)`` → ``{teacher: (tag logits (B, n_tags), features (B, D_t))}``."""

    def __init__(self, dim: int, cfg: DistillConfig = DistillConfig()):
        super().__init__()
        self.cfg = cfg
        self.trunk = nn.Sequential(nn.LayerNorm(2 * dim), nn.Linear(2 * dim, cfg.hidden),
                                   nn.GELU())
        self.tags = nn.ModuleDict({t: nn.Linear(cfg.hidden, cfg.n_tags) for t in cfg.teachers})
        self.feats = nn.ModuleDict({t: nn.Linear(cfg.hidden, TEACHER_DIMS[t])
                                    for t in cfg.teachers})

    def forward(self, frames: torch.Tensor) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        h = self.trunk(torch.cat([frames.mean(dim=1), frames.amax(dim=1)], dim=-1))
        return {t: (self.tags[t](h), self.feats[t](h)) for t in self.cfg.teachers}


class Student(nn.Module):
    """An :class:`lyrebird.encoders.base.AudioEncoder` with a :class:`DistillHead`: windows
    ``(B, L)`` at the encoder's rate → the head's outputs."""

    def __init__(self, encoder: nn.Module, cfg: DistillConfig = DistillConfig()):
        super().__init__()
        self.encoder, self.head = encoder, DistillHead(int(encoder.DIM), cfg)

    def forward(self, audio: torch.Tensor) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        n = int(self.encoder.clip_samples)
        audio = F.pad(audio, (0, max(0, n - audio.shape[-1])))[..., :n]
        return self.head(self.encoder.encode_clips(audio).frames)


def distill_loss(out: dict[str, tuple[torch.Tensor, torch.Tensor]],
                 probs: dict[str, torch.Tensor], feats: dict[str, torch.Tensor],
                 feat_weight: float = 1.0) -> tuple[torch.Tensor, dict[str, float]]:
    """Mean over teachers of ``BCE(logits, probs) + feat_weight · (1 − cos(pred, feats))``
    (``probs`` ``(B, n_tags)`` in [0, 1], ``feats`` ``(B, D_t)``); returns the loss and its
    parts as floats."""
    bce = torch.stack([F.binary_cross_entropy_with_logits(out[t][0], probs[t].float())
                       for t in out]).mean()
    cos = torch.stack([1 - F.cosine_similarity(out[t][1], feats[t].float(), dim=-1).mean()
                       for t in out]).mean()
    return bce + feat_weight * cos, {"bce": float(bce.detach()), "cos": float(cos.detach())}


class DistillModule(L.LightningModule):
    """Lightning wrapper: batches ``{"audio": (B, L), "probs": {t: (B, 50)}, "feats": {t: (B,
    D_t)}}``; AdamW with the head at ``lr`` and the encoder at ``encoder_lr``."""

    def __init__(self, student: Student, cfg: DistillConfig = DistillConfig()):
        super().__init__()
        self.student, self.cfg = student, cfg

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor:
        loss, parts = distill_loss(self.student(batch["audio"]), batch["probs"], batch["feats"],
                                   self.cfg.feat_weight)
        self.log("train/loss", loss, prog_bar=True)
        for k, v in parts.items():
            self.log(f"train/{k}", v)
        return loss

    def configure_optimizers(self) -> torch.optim.Optimizer:
        groups = [{"params": self.student.head.parameters(), "lr": self.cfg.lr}]
        if self.cfg.encoder_lr > 0:
            groups.append({"params": self.student.encoder.parameters(),
                           "lr": self.cfg.encoder_lr})
        else:
            self.student.encoder.requires_grad_(False)
        return torch.optim.AdamW(groups, weight_decay=0.01)


class ShardWindows(torch.utils.data.Dataset):
    """The windows of ``lyrebird teach --windows`` shards (clean copies) as training items:
    the window's audio at 16 kHz ``(47872,)`` and each teacher's float32 targets."""

    def __init__(self, folder: str | Path, manifest: str | Path, teachers: tuple[str, ...]):
        from lyrebird.train.teachers.windows import read_shard

        self.folder, self.manifest, self.teachers = Path(folder), Path(manifest), teachers
        idx = pd.read_parquet(self.folder / "index.parquet")
        self.items: list[tuple[dict, dict[str, np.ndarray], int]] = []
        for shard in idx[idx["copy"] == 0]["shard"]:
            meta, arr = read_shard(self.folder / shard)
            self.items += [(meta, arr, j) for j in range(len(arr["starts_s"]))]

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> dict[str, Any]:
        from lyrebird.encoders.audio import load_audio
        from lyrebird.train.corpora.manifest import resolve_path

        meta, arr, j = self.items[i]
        at = float(meta["start_s"]) + float(arr["starts_s"][j])
        wav = load_audio(resolve_path(self.manifest, meta["path"]), 16000, offset_s=at,
                         duration_s=float(meta["window_s"]))
        return {"audio": torch.from_numpy(np.asarray(wav, np.float32)),
                "probs": {t: torch.from_numpy(arr[f"{t}/probs"][j].astype(np.float32))
                          for t in self.teachers},
                "feats": {t: torch.from_numpy(arr[f"{t}/feats"][j].astype(np.float32))
                          for t in self.teachers}}


__all__ = ["TEACHER_DIMS", "DistillConfig", "DistillHead", "DistillModule", "ShardWindows",
           "Student", "distill_loss"]
