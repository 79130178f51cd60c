"""The two towers of MuLan and their building blocks.

* :class:`AudioTower`: a Lyrebird encoder (any checkpoint), frame states of selected layers,
  optional transformer layers, time-average (or mean+std) pooling, linear projection to ``dim``.
* :class:`TextTower`: a pretrained text backbone, ``n_layers`` extra transformer layers, masked
  mean pooling, linear projection to ``dim``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from lyrebird.encoders import AudioEncoder, get_encoder

from .config import AudioTowerConfig, TextTowerConfig
from .text_backbones import TextBackbone, load_text_backbone


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
        if getattr(self.backbone, "pooled", False) and cfg.n_layers:
            raise ValueError(f"TextTowerConfig.n_layers={cfg.n_layers}: the backbone "
                             f"{cfg.backbone!r} gives one pooled vector per text, so extra "
                             "transformer layers do not apply; use n_layers=0 (--set text.n_layers=0)")
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
