"""Myna: a SimpleViT on mel spectrograms trained contrastively with token masking (seed 000).

Variants (``MynaConfig.patch``):

* ``"square"``: 16×16 patches; ``"vertical"``: 128×2 full-height patches;
* ``"hybrid"``: both, with separate patch projections and positional embeddings and a shared
  transformer and projector; the loss is the mean of the square and vertical losses;
* ``"vit1d"``: ViT-1D (seed 002) — full-height patches plus a class token; NT-Xent on the class
  token; the embedding is the mean of the class token and the mean sequence token, and the
  sequence tokens are the frame embeddings.

The two views of a training pair are two 3-second segments of the same track, each masked
independently at ``mask_ratio`` (0.9). Masked tokens are dropped before the projection.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import torch
from torch import nn

from lyrebird.core.configs import config_from_dict

from .base import AudioEncoder, ClipOutput
from .contrastive import nt_xent
from .mel import MEL_PRESETS, MelConfig, MelFrontend
from .transpose import transposed_twins
from .vit import Patcher, Transformer, random_keep

PatchKind = Literal["square", "vertical", "hybrid", "vit1d"]
EmbedMode = Literal["square", "vertical", "concat"]


@dataclass(frozen=True)
class MynaConfig:
    """Architecture and objective of a Myna model (defaults: Myna-22M-Hybrid, ViT-S/16)."""

    dim: int = 384
    depth: int = 12
    heads: int = 6
    mlp_dim: int = 1536
    patch: PatchKind = "hybrid"
    square: tuple[int, int] = (16, 16)  # (mel bins, frames)
    vertical: tuple[int, int] = (128, 2)
    clip_frames: int = 96  # spectrogram frames per view / inference window (3.04 s)
    proj_dim: int = 128
    proj_hidden: int = 0  # 0: linear projector; > 0: MLP with this hidden width
    mask_ratio: float = 0.9
    tau: float = 0.1
    transpose: int = 0  # > 0: transposed-twin negatives up to this many semitones (0: off)
    embed_mode: EmbedMode = "concat"  # hybrid only: which representation embed() returns
    mel: MelConfig = field(default_factory=lambda: MEL_PRESETS["myna"])

    def __post_init__(self) -> None:
        if self.dim % self.heads:
            raise ValueError(f"MynaConfig: dim {self.dim} must be divisible by heads {self.heads}")
        if self.patch not in ("square", "vertical", "hybrid", "vit1d"):
            raise ValueError(f"MynaConfig.patch must be square|vertical|hybrid|vit1d, got {self.patch!r}")
        for name in self.patchers:
            ph, pw = getattr(self, name)
            if self.mel.n_mels % ph or self.clip_frames % pw:
                raise ValueError(f"MynaConfig.{name}={ph}x{pw} must tile {self.mel.n_mels} mels "
                                 f"x {self.clip_frames} frames")

        if self.transpose < 0 or (self.transpose and self.mel.stack != 1):
            raise ValueError(f"MynaConfig.transpose must be >= 0 semitones on an unstacked mel "
                             f"front-end, got {self.transpose} (stack {self.mel.stack})")

    @property
    def patchers(self) -> tuple[str, ...]:
        """Names of the patchers this model trains: ``square``/``vertical``."""
        return {"square": ("square",), "vertical": ("vertical",), "vit1d": ("vertical",),
                "hybrid": ("square", "vertical")}[self.patch]

    @property
    def clip_s(self) -> float:
        """Seconds of audio that give exactly ``clip_frames`` centred frames."""
        return (self.clip_frames - 1) * self.mel.hop_length / self.mel.sample_rate


SIZES = {
    "tiny": dict(dim=64, depth=2, heads=2, mlp_dim=128),
    "small": dict(dim=192, depth=6, heads=3, mlp_dim=768),
    "base": dict(dim=384, depth=12, heads=6, mlp_dim=1536),
}


def presets() -> dict[str, MynaConfig]:
    """``"<size>-<patch>"`` → config, for sizes tiny/small/base and every patch kind."""
    return {f"{s}-{p}": MynaConfig(**kw, patch=p)
            for s, kw in SIZES.items() for p in ("square", "vertical", "hybrid", "vit1d")}


def myna_config(preset: str, **overrides) -> MynaConfig:
    """Preset ``"<size>-<patch>"`` (see :func:`presets`) with field overrides; ``None`` values
    are skipped. An unknown preset raises ``ValueError`` naming the known ones."""
    p = presets()
    if preset not in p:
        raise ValueError(f"unknown Myna preset {preset!r}; expected one of {sorted(p)}")
    return dataclasses.replace(p[preset], **{k: v for k, v in overrides.items() if v is not None})


class MynaEncoder(AudioEncoder):
    """Myna model: mel front-end, patchers, shared transformer, projector."""

    kind = "myna"

    def __init__(self, cfg: MynaConfig = MynaConfig()):
        super().__init__()
        self.cfg = cfg
        self.frontend = MelFrontend(cfg.mel)
        self.patchers = nn.ModuleDict({n: Patcher(cfg.mel.n_mels, *getattr(cfg, n), cfg.dim)
                                       for n in cfg.patchers})
        self.cls_token = nn.Parameter(torch.randn(1, 1, cfg.dim) * 0.02) if cfg.patch == "vit1d" else None
        self.transformer = Transformer(cfg.dim, cfg.depth, cfg.heads, cfg.mlp_dim)
        self.projector = (nn.Linear(cfg.dim, cfg.proj_dim) if cfg.proj_hidden == 0 else
                          nn.Sequential(nn.Linear(cfg.dim, cfg.proj_hidden), nn.GELU(),
                                        nn.Linear(cfg.proj_hidden, cfg.proj_dim)))
        self.SAMPLE_RATE = cfg.mel.sample_rate
        self.clip_s = cfg.clip_s
        self.set_embed_mode(cfg.embed_mode if cfg.patch == "hybrid" else cfg.patchers[0])

    # ----------------------------------------------------------------- embedding modes
    def set_embed_mode(self, mode: EmbedMode) -> None:
        """Hybrid models: return the ``square``, ``vertical`` or ``concat`` representation."""
        if mode == "concat":
            if self.cfg.patch != "hybrid":
                raise ValueError("embed_mode 'concat' needs a hybrid model")
            names = ("square", "vertical")
        elif mode in self.patchers:
            names = (mode,)
        else:
            raise ValueError(f"embed_mode {mode!r} not available; patchers: {list(self.patchers)}")
        self.embed_mode = mode
        self._embed_names = names
        self.DIM = self.cfg.dim * len(names)
        finest = min(getattr(self.cfg, n)[1] for n in names)
        self.FRAME_RATE = self.cfg.mel.frame_rate / finest

    # ----------------------------------------------------------------- building blocks
    def mel(self, audio: torch.Tensor) -> torch.Tensor:
        """``(B, L)`` audio at ``SAMPLE_RATE`` → log-mel ``(B, 128, frames)``."""
        return self.frontend(audio)

    def tokens(self, mel: torch.Tensor, name: str, keep: torch.Tensor | None = None,
               return_all: bool = False):
        """Transformer output for patcher ``name``: ``(B, [1 +] N, dim)`` (or all layers)."""
        x = self.patchers[name](mel, keep)
        if self.cls_token is not None:
            x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1)
        return self.transformer(x, return_all=return_all)

    def pool(self, tokens: torch.Tensor) -> torch.Tensor:
        """``(B, N, dim)`` → ``(B, dim)``: GAP, or mean(class, GAP of sequence) for ViT-1D."""
        if self.cls_token is None:
            return tokens.mean(1)
        return 0.5 * (tokens[:, 0] + tokens[:, 1:].mean(1))

    def _frames(self, tokens: torch.Tensor, name: str, n_frames: int) -> torch.Tensor:
        """``(B, [1+] h*w, dim)`` → ``(B, w, dim)`` by averaging each token column."""
        if self.cls_token is not None:
            tokens = tokens[:, 1:]
        h, w = self.patchers[name].grid(n_frames)
        return tokens.reshape(tokens.shape[0], h, w, -1).mean(1)

    # ----------------------------------------------------------------- training
    def project_masked(self, mel: torch.Tensor, name: str, mask_ratio: float | None = None,
                       generator: torch.Generator | None = None) -> torch.Tensor:
        """One masked view: ``(B, F, T)`` → projection ``(B, proj_dim)``."""
        ratio = self.cfg.mask_ratio if mask_ratio is None else mask_ratio
        p = self.patchers[name]
        h, w = p.grid(mel.shape[-1])
        keep = random_keep(mel.shape[0], h * w, ratio, mel.device, generator) if ratio > 0 else None
        t = self.tokens(mel, name, keep)
        rep = t[:, 0] if self.cls_token is not None else t.mean(1)
        return self.projector(rep)

    def contrastive_loss(self, mel1: torch.Tensor, mel2: torch.Tensor,
                         mask_ratio: float | None = None,
                         generator: torch.Generator | None = None,
                         gather: Callable[[torch.Tensor], torch.Tensor] | None = None,
                         ) -> tuple[torch.Tensor, dict]:
        """Myna loss for two views ``(B, F, T)`` each; hybrid = mean over patchers.

        ``gather`` (data-parallel training) maps local ``(B, P)`` projections to the global
        ``(world * B, P)`` batch with gradients, so negatives come from every device.
        With ``cfg.transpose`` each pair also gets a transposed twin pair (see
        :func:`~lyrebird.encoders.transpose.transposed_twins`), doubling the batch.
        Returns ``(loss, {patcher: loss})``.
        """
        if self.cfg.transpose:
            mel1, mel2 = transposed_twins(mel1, mel2, self.cfg.transpose, self.cfg.mel, generator)
        parts = {}
        for name in self.patchers:
            # both views in one pass: independent masks per row, larger (faster) matmuls
            z1, z2 = self.project_masked(torch.cat([mel1, mel2]), name, mask_ratio,
                                         generator).chunk(2)
            if gather is not None:
                z1, z2 = gather(z1), gather(z2)
            parts[name] = nt_xent(z1, z2, self.cfg.tau)
        return torch.stack(list(parts.values())).mean(), parts

    # ----------------------------------------------------------------- inference
    def _token_states(self, mel: torch.Tensor, hidden: bool) -> dict[str, list[torch.Tensor]]:
        """Per patcher, the final (or every layer's) token states of an unmasked pass.

        When every patcher yields the same number of tokens (square and vertical both give
        48 at 96 frames), their sequences run through the shared transformer as one batch.
        """
        names = self._embed_names
        toks = {k: self.patchers[k](mel) for k in names}
        if len({t.shape[1] for t in toks.values()}) == 1 and len(names) > 1:
            x = torch.cat([toks[k] for k in names])
            if self.cls_token is not None:
                x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1)
            out = self.transformer(x, return_all=hidden)
            states = out if hidden else [out]
            b = mel.shape[0]
            return {k: [s[i * b : (i + 1) * b] for s in states] for i, k in enumerate(names)}
        res = {}
        for k in names:
            out = self.tokens(mel, k, return_all=hidden)
            res[k] = out if hidden else [out]
        return res

    def encode_mel(self, mel: torch.Tensor, hidden: bool = False) -> ClipOutput:
        """Unmasked forward of ``(B, 128, clip_frames)`` spectrograms."""
        n = mel.shape[-1]
        target_w = max(self.patchers[k].grid(n)[1] for k in self._embed_names)
        pooled, frames, layers = [], [], []
        for name, states in self._token_states(mel, hidden).items():
            last = states[-1]
            pooled.append(self.pool(last))
            frames.append(self._upsample(self._frames(last, name, n), target_w))
            if hidden:
                layers.append([self._upsample(self._frames(s, name, n), target_w) for s in states])
        hs = [torch.cat(per, dim=-1) for per in zip(*layers, strict=True)] if hidden else None
        return ClipOutput(torch.cat(pooled, -1), torch.cat(frames, -1), hs)

    @staticmethod
    def _upsample(frames: torch.Tensor, w: int) -> torch.Tensor:
        """Repeat ``(B, w0, D)`` frames to ``(B, w, D)`` (w a multiple of w0)."""
        if frames.shape[1] == w:
            return frames
        return frames.repeat_interleave(w // frames.shape[1], dim=1)[:, :w]

    def encode_clips(self, audio: torch.Tensor, hidden: bool = False) -> ClipOutput:
        """``(B, clip_samples)`` audio → pooled ``(B, DIM)`` and frames ``(B, T, DIM)``."""
        mel = self.mel(audio)[..., : self.cfg.clip_frames]
        return self.encode_mel(mel, hidden=hidden)


def build(config: dict) -> MynaEncoder:
    """Config dict (from ``config.json``) → :class:`MynaEncoder` with random weights."""
    return MynaEncoder(config_from_dict(MynaConfig, config))


__all__ = ["SIZES", "MynaConfig", "MynaEncoder", "build", "myna_config", "presets"]
