"""The distilled tag student: a small CNN that reads musicnn's own input and predicts the
musicnn teachers' window tags.

The tag head (:mod:`lyrebird.mulan.tag_head`) reads the stored MuLan vector and cannot get past
≈ 0.89 fidelity to its teachers: the encoder's representation does not carry what they see.
The student reads what they read — musicnn's 96-band log-mel of 16 kHz audio
(:mod:`lyrebird.encoders.musicnn_mel`) in 187-frame (2.992 s) windows — and reaches 0.95 / 0.93
(docs/distillation.md) at ≈ 1,200× real time on one thread. A library runs it at ingestion on
each segment's audio and stores each track's tags (:mod:`lyrebird.index.store`); a MuLan
checkpoint carries it in ``tag_student/`` beside ``tag_head/``. Trained by
:mod:`lyrebird.train.trainers.tag_student`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from lyrebird.core.configs import config_to_dict
from lyrebird.core.fingerprint import module_fingerprint, stable_hash
from lyrebird.core.saved_module import SavedModule
from lyrebird.encoders.musicnn_mel import FrontendConfig, LogMelFrontend

KIND = "tag_student"
STUDENT_DIR = "tag_student"
"""The student's folder inside a MuLan checkpoint folder."""


@dataclass(frozen=True)
class TagStudentConfig:
    """``names``: the output tags, teacher by teacher (``teachers`` order, 50 each);
    ``width``: channels of the second conv block (the five blocks: w/2, w, 2w, 4w, 8w);
    ``feat_dim``: the teachers' penultimate features it also predicts (training only);
    ``n_frames``: log-mel frames per window (187 = 2.992 s at 16 ms);
    ``thresholds``: per-tag probability from which a tag counts as present (the chips),
    calibrated on the valid split's 10 s segments against the teachers' own top tags (empty:
    0.5 for every tag)."""

    names: tuple[str, ...] = ()
    teachers: tuple[str, ...] = ()
    width: int = 32
    feat_dim: int = 400
    n_mels: int = 96
    n_frames: int = 187
    hidden: int = 512
    dropout: float = 0.2
    thresholds: tuple[float, ...] = ()


def _block(c_in: int, c_out: int) -> nn.Sequential:
    """A stride-2 3×3 conv then a depthwise 3×3 conv, each with BN and ReLU."""
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
        nn.Conv2d(c_out, c_out, 3, padding=1, groups=c_out, bias=False), nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True))


class TagStudent(SavedModule, nn.Module):
    """Log-mel windows ``(B, n_frames, n_mels)`` → ``(logits (B, T), features (B, feat_dim))``.

    Five conv blocks, global mean and max pooling over the remaining frequency × time cells,
    one hidden layer. ``mu``/``sd`` standardise each mel band (set from training data)."""

    KIND = KIND
    CONFIG = TagStudentConfig

    def __init__(self, cfg: TagStudentConfig):
        super().__init__()
        if not cfg.names:
            raise ValueError("TagStudentConfig.names is empty: the student needs its tag names")
        self.cfg = cfg
        w = cfg.width
        ch = [1, w // 2, w, 2 * w, 4 * w, 8 * w]
        self.convs = nn.Sequential(*[_block(ch[i], ch[i + 1]) for i in range(5)])
        self.hidden = nn.Sequential(nn.Linear(2 * ch[-1], cfg.hidden), nn.ReLU(inplace=True),
                                    nn.Dropout(cfg.dropout))
        self.logits = nn.Linear(cfg.hidden, len(cfg.names))
        self.feats = nn.Linear(cfg.hidden, cfg.feat_dim)
        self.register_buffer("mu", torch.zeros(cfg.n_mels))
        self.register_buffer("sd", torch.ones(cfg.n_mels))
        self._mel: LogMelFrontend | None = None

    @property
    def names(self) -> tuple[str, ...]:
        return self.cfg.names

    @property
    def thresholds(self) -> np.ndarray:
        """``(T,)`` probabilities from which each tag is present."""
        t = self.cfg.thresholds
        return np.asarray(t if t else [0.5] * len(self.names), np.float32)

    def fingerprint(self) -> str:
        """Identity of the weights and config, thresholds left out: they decide which tags show
        as chips, not the probabilities, so tags stored with a recalibrated student stay its
        own (hex)."""
        cfg = {k: v for k, v in config_to_dict(self.cfg).items() if k != "thresholds"}
        return f"{stable_hash(module_fingerprint(self), cfg):016x}"

    @property
    def sample_rate(self) -> int:
        """Input rate of :meth:`window_probs` / :meth:`segment_probs`, Hz (16000)."""
        return FrontendConfig().sample_rate

    def forward(self, mel: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``mel (B, n_frames, n_mels)`` → ``(logits (B, T), features (B, feat_dim))``."""
        x = ((mel - self.mu) / self.sd).transpose(1, 2).unsqueeze(1)  # (B, 1, n_mels, frames)
        x = self.convs(x).flatten(2)
        h = self.hidden(torch.cat([x.mean(2), x.amax(2)], 1))
        return self.logits(h), self.feats(h)

    def log_mel(self, wav: np.ndarray) -> torch.Tensor:
        """``(T,)`` float32 at 16 kHz → musicnn log-mel ``(frames, n_mels)``."""
        if self._mel is None:
            self._mel = LogMelFrontend()
        return self._mel(np.ascontiguousarray(wav, dtype=np.float32))

    def windows(self, wav: np.ndarray) -> torch.Tensor:
        """``(T,)`` float32 at 16 kHz → its non-overlapping log-mel windows ``(n, n_frames,
        n_mels)``, as the teachers cut them; input shorter than one window is repeat-padded
        in the log-mel domain (as the teachers do)."""
        mel, n = self.log_mel(wav), self.cfg.n_frames
        if len(mel) < n:
            mel = mel.repeat(-(-n // max(len(mel), 1)), 1)[:n]
        k = (len(mel) - n) // n + 1
        return mel[: k * n].reshape(k, n, mel.shape[1])

    @torch.no_grad()
    def window_probs(self, wav: np.ndarray) -> np.ndarray:
        """``(T,)`` float32 at 16 kHz → ``(n_windows, T_tags)`` float32 probabilities."""
        self.eval()
        return torch.sigmoid(self(self.windows(wav))[0]).numpy()

    @torch.no_grad()
    def segment_probs(self, audio: np.ndarray, valid: np.ndarray) -> np.ndarray:
        """Segments ``(B, L)`` at 16 kHz with ``valid (B,)`` real samples each → ``(B, T)``
        float32: the mean probabilities of each segment's windows (one forward pass)."""
        self.eval()
        wins = [self.windows(np.asarray(a[: max(int(v), 1)], np.float32))
                for a, v in zip(audio, valid, strict=True)]
        if not wins:
            return np.zeros((0, len(self.names)), np.float32)
        p = torch.sigmoid(self(torch.cat(wins))[0]).numpy()
        at = np.cumsum([0] + [len(w) for w in wins])
        return np.stack([p[at[i]:at[i + 1]].mean(0) for i in range(len(wins))]).astype(np.float32)


def find_student(checkpoint_dir: str | os.PathLike) -> TagStudent | None:
    """The tag student a MuLan checkpoint folder carries (``tag_student/``), or ``None``."""
    d = Path(checkpoint_dir) / STUDENT_DIR
    return TagStudent.load(d) if (d / "config.json").is_file() else None


__all__ = ["KIND", "STUDENT_DIR", "TagStudent", "TagStudentConfig", "find_student"]
