"""The masked-token-prediction family: MuQ, OMAR-RQ-like and Branchformer/SummaryMixing models.

A :class:`MuQConfig` composes three independent parts:

* a **tokenizer** (:mod:`~lyrebird.encoders.tokenizers`) that turns the clean stacked mel into
  ``N`` token streams of ``K`` classes (the targets);
* a **backbone** (:mod:`~lyrebird.encoders.backbone`): stem + Conformer or Branchformer
  blocks, with rotary MHSA or linear-time SummaryMixing;
* an **objective** (:mod:`~lyrebird.encoders.masking`): 0.4 s spans masked with probability
  ``p`` and filled with noise, ``N`` linear heads with cross-entropy on masked frames only,
  and an optional auxiliary mel-reconstruction MSE.

Input is the ``muq`` mel preset (24 kHz, 128 HTK mels in dB, ×4 stacked to 512 features at
25 Hz); frames, hidden states and tokens are all at 25 Hz. Presets are
``"<family>-<size>"`` with families ``muq`` (Mel-RVQ 8×1024, Conformer), ``omar`` (4 parallel
random codebooks of 8192, Conformer), ``omar-fsq`` (4 × FSQ 6⁵), ``brn-sum`` / ``brn-att``
(seed 001: Branchformer with SummaryMixing / MHSA, BEST-RQ 8192, p = 0.2, + mel MSE) and
``cnf-sum`` (Conformer with SummaryMixing), and sizes ``tiny`` (CPU tests), ``small``,
``base`` (≈ OMAR-RQ base) and ``large`` (≈ MuQ's 310 M; 24 layers, ≈ 600 M, for ``omar``/``omar-fsq``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import torch
from torch import nn

from lyrebird.core.configs import config_from_dict

from .backbone import Backbone, BackboneConfig
from .base import AudioEncoder, ClipOutput
from .masking import (
    ObjectiveConfig,
    fill_noise,
    majority_accuracy,
    masked_mse,
    masked_token_loss,
    span_mask,
)
from .mel import MEL_PRESETS, MelConfig, MelFrontend
from .tokenizers import TokenizerConfig


@dataclass(frozen=True)
class MuQConfig:
    """Tokenizer × backbone × objective, plus the front-end and the clip length.

    Attributes:
        clip_s: seconds per training crop and per inference window (bounded memory: no
            attention ever spans more than this).
    """

    tokenizer: TokenizerConfig = field(default_factory=lambda: TokenizerConfig(
        kind="melrvq", num_codebooks=8, codebook_size=1024, codebook_dim=16))
    backbone: BackboneConfig = field(default_factory=BackboneConfig)
    objective: ObjectiveConfig = field(default_factory=ObjectiveConfig)
    clip_s: float = 30.0
    mel: MelConfig = field(default_factory=lambda: MEL_PRESETS["muq"])

    def __post_init__(self) -> None:
        if self.tokenizer.in_dim != self.mel.num_features:
            raise ValueError(f"MuQConfig.tokenizer.in_dim={self.tokenizer.in_dim} must equal the "
                             f"mel features per frame ({self.mel.num_features})")
        if self.clip_frames < 2 * self.objective.span_frames(self.mel.frame_rate):
            raise ValueError(f"MuQConfig.clip_s={self.clip_s} gives {self.clip_frames} frames, "
                             f"fewer than two mask spans")

    @property
    def clip_frames(self) -> int:
        """25 Hz frames in one ``clip_s`` window."""
        return self.mel.num_frames(int(round(self.clip_s * self.mel.sample_rate)))


SIZES: dict[str, dict] = {
    "tiny": dict(dim=64, depth=2, heads=2, ffn_dim=128, kernel=15, dropout=0.0, stem_channels=8),
    "small": dict(dim=256, depth=4, heads=4, ffn_dim=1024, stem_channels=64),
    "base": dict(dim=512, depth=12, heads=8, ffn_dim=2048, stem_channels=128),
    "large": dict(dim=1024, depth=12, heads=16, ffn_dim=4096, stem_channels=256),
}
CLIP_S = {"tiny": 5.0, "small": 10.0, "base": 30.0, "large": 30.0}

_RANDOM = dict(kind="random", codebook_size=8192, codebook_dim=16)
FAMILIES: dict[str, dict] = {
    "muq": dict(tokenizer=dict(kind="melrvq", num_codebooks=8, codebook_size=1024, codebook_dim=16),
                backbone=dict(block="conformer", mixer="mhsa"), objective=dict(mask_prob=0.6)),
    "omar": dict(tokenizer=dict(_RANDOM, num_codebooks=4),
                 backbone=dict(block="conformer", mixer="mhsa"), objective=dict(mask_prob=0.6),
                 large=dict(depth=24)),
    "omar-fsq": dict(tokenizer=dict(kind="fsq", num_codebooks=4, fsq_levels=(6, 6, 6, 6, 6)),
                     backbone=dict(block="conformer", mixer="mhsa"), objective=dict(mask_prob=0.6),
                     large=dict(depth=24)),
    "brn-sum": dict(tokenizer=dict(_RANDOM, num_codebooks=1),
                    backbone=dict(block="branchformer", mixer="summary"),
                    objective=dict(mask_prob=0.2, recon_weight=1.0)),
    "brn-att": dict(tokenizer=dict(_RANDOM, num_codebooks=1),
                    backbone=dict(block="branchformer", mixer="mhsa"),
                    objective=dict(mask_prob=0.2, recon_weight=1.0)),
    "cnf-sum": dict(tokenizer=dict(_RANDOM, num_codebooks=1),
                    backbone=dict(block="conformer", mixer="summary"),
                    objective=dict(mask_prob=0.2, recon_weight=1.0)),
}


def make_config(family: str, size: str) -> MuQConfig:
    """The config of preset ``"<family>-<size>"``."""
    if family not in FAMILIES:
        raise ValueError(f"unknown MuQ family {family!r}; expected one of {sorted(FAMILIES)}")
    if size not in SIZES:
        raise ValueError(f"unknown MuQ size {size!r}; expected one of {sorted(SIZES)}")
    fam = FAMILIES[family]
    bb = {**SIZES[size], **fam["backbone"], **fam.get(size, {}), "stem": "conv2d"}
    return MuQConfig(tokenizer=TokenizerConfig(**fam["tokenizer"]), backbone=BackboneConfig(**bb),
                     objective=ObjectiveConfig(**fam["objective"]), clip_s=CLIP_S[size])


def presets() -> dict[str, MuQConfig]:
    """``"<family>-<size>"`` → config, for every family and size."""
    return {f"{f}-{s}": make_config(f, s) for f in FAMILIES for s in SIZES}


class MuQEncoder(AudioEncoder):
    """Mel front-end → backbone → ``N`` token heads (+ optional mel-reconstruction head).

    The heads are one ``Linear(D, N·K)`` viewed as ``N`` independent ``D → K`` heads.
    ``embed_frames`` returns the last backbone state at 25 Hz; ``hidden_states`` the stem
    output and every block's output (``depth + 1`` entries).
    """

    kind = "muq"

    def __init__(self, cfg: MuQConfig = MuQConfig()):
        super().__init__()
        self.cfg = cfg
        self.frontend = MelFrontend(cfg.mel)
        self.backbone = Backbone(cfg.backbone, cfg.mel.num_features, cfg.mel.stack)
        self.n_streams, self.vocab = cfg.tokenizer.num_codebooks, cfg.tokenizer.vocab_size
        self.heads = nn.Linear(cfg.backbone.dim, self.n_streams * self.vocab)
        self.recon_head = (nn.Linear(cfg.backbone.dim, cfg.mel.num_features)
                           if cfg.objective.recon_weight > 0 else None)
        self.SAMPLE_RATE = cfg.mel.sample_rate
        self.FRAME_RATE = cfg.mel.frame_rate
        self.DIM = cfg.backbone.dim
        self.clip_s = cfg.clip_s

    # ----------------------------------------------------------------- features
    def features(self, audio: torch.Tensor) -> torch.Tensor:
        """``(B, L)`` audio at 24 kHz → stacked mel frames ``(B, T, 512)`` at 25 Hz."""
        return self.frontend(audio).transpose(1, 2)

    def logits(self, h: torch.Tensor) -> torch.Tensor:
        """``(B, T, D)`` states → ``(B, T, N, K)`` token logits."""
        return self.heads(h).unflatten(-1, (self.n_streams, self.vocab))

    # ----------------------------------------------------------------- training
    def make_mask(self, feats: torch.Tensor, pad_mask: torch.Tensor | None = None,
                  generator: torch.Generator | None = None) -> torch.Tensor:
        """Span mask ``(B, T)`` for ``(B, T, F)`` features; padded frames are never masked."""
        o = self.cfg.objective
        m = span_mask(feats.shape[0], feats.shape[1], o.span_frames(self.FRAME_RATE),
                      o.mask_prob, generator, feats.device)
        return m if pad_mask is None else m & ~pad_mask

    def masked_prediction_loss(self, feats: torch.Tensor, tokens: torch.Tensor,
                               pad_mask: torch.Tensor | None = None,
                               generator: torch.Generator | None = None,
                               mask: torch.Tensor | None = None,
                               ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The training objective on clean stacked mel ``(B, T, F)`` and its tokens ``(B, T, N)``.

        Masks spans (unless ``mask`` ``(B, T)`` is given), fills them with noise, runs the
        backbone and returns ``(loss, metrics)`` with ``metrics`` = ``ce``, ``acc`` (token
        accuracy on masked frames), ``chance`` (majority-token accuracy), ``masked`` (fraction
        of frames masked) and ``recon`` when the reconstruction head is on.
        """
        o = self.cfg.objective
        if mask is None:
            mask = self.make_mask(feats, pad_mask, generator)
        x = fill_noise(feats, mask, o.noise_std, generator)
        h = self.backbone(x, pad_mask)
        ce, acc = masked_token_loss(self.logits(h), tokens, mask)
        metrics = {"ce": ce.detach(), "acc": acc, "masked": mask.float().mean(),
                   "chance": majority_accuracy(tokens, mask)}
        loss = ce
        if self.recon_head is not None:
            rec = masked_mse(self.recon_head(h), feats, mask)
            metrics["recon"] = rec.detach()
            loss = loss + o.recon_weight * rec
        return loss, metrics

    # ----------------------------------------------------------------- inference
    def encode_features(self, feats: torch.Tensor, hidden: bool = False,
                        pad_mask: torch.Tensor | None = None) -> ClipOutput:
        """Unmasked forward of stacked mel ``(B, T, F)`` → :class:`ClipOutput` at 25 Hz."""
        if hidden:
            states = self.backbone(feats, pad_mask, return_all=True)
            last = states[-1]
        else:
            states, last = None, self.backbone(feats, pad_mask)
        if pad_mask is None:
            pooled = last.mean(1)
        else:
            keep = (~pad_mask).unsqueeze(-1).to(last.dtype)
            pooled = (last * keep).sum(1) / keep.sum(1).clamp_min(1.0)
        return ClipOutput(pooled, last, states)

    def encode_clips(self, audio: torch.Tensor, hidden: bool = False) -> ClipOutput:
        """``(B, clip_samples)`` audio → pooled ``(B, DIM)``, frames ``(B, T, DIM)`` at 25 Hz."""
        return self.encode_features(self.features(audio)[:, : self.cfg.clip_frames], hidden)


def build(config: dict) -> MuQEncoder:
    """Config dict (from ``config.json``) → :class:`MuQEncoder` with random weights."""
    return MuQEncoder(config_from_dict(MuQConfig, config))


def muq_config(preset: str, **overrides) -> MuQConfig:
    """Preset ``"<family>-<size>"`` with overrides routed to the part that owns each field
    (``backbone``, ``objective``, ``tokenizer`` or the top level); ``None`` values are skipped.
    Unknown fields raise ``ValueError`` naming them."""
    p = presets()
    if preset not in p:
        raise ValueError(f"unknown MuQ preset {preset!r}; expected one of {sorted(p)}")
    cfg = p[preset]
    parts = {"backbone": {}, "objective": {}, "tokenizer": {}, "top": {}}
    owners = {name: {f.name for f in dataclasses.fields(getattr(cfg, name))}
              for name in ("backbone", "objective", "tokenizer")}
    top = {f.name for f in dataclasses.fields(cfg)}
    for k, v in overrides.items():
        if v is None:
            continue
        owner = next((n for n, fs in owners.items() if k in fs), "top" if k in top else None)
        if owner is None:
            raise ValueError(f"unknown MuQ config field {k!r}")
        parts[owner][k] = v
    return dataclasses.replace(cfg, **parts["top"], **{
        n: dataclasses.replace(getattr(cfg, n), **parts[n]) for n in owners if parts[n]})


__all__ = ["FAMILIES", "SIZES", "MuQConfig", "MuQEncoder", "build", "make_config", "muq_config",
           "presets"]
