"""MuLan two-tower music–text model (audio tower from ``lyrebird.encoders``, text tower, DCL).

>>> from lyrebird.mulan import MuLan
>>> m = MuLan.load("default")
>>> m.embed_text(["a calm piano piece", "ein schneller Rocksong"])   # (2, 512), L2-normalised
>>> m.embed_audio(wav, sr)                                          # (512,)
>>> m.tag(wav, sr, tags=["piano", "rock"])                           # {tag: cosine}

Imports only ``lyrebird.encoders``; training lives in ``lyrebird.train.trainers.mulan_module``.
"""

from lyrebird.core.fingerprint import module_fingerprint

from .config import AudioTowerConfig, MuLanConfig, TextTowerConfig
from .model import MuLan
from .text_backbones import TextBackbone, TextBackboneError, load_text_backbone
from .towers import AudioTower, TextTower, masked_mean
from .zeroshot import (
    DEFAULT_TEMPLATE,
    EmbeddingCollapseError,
    check_text_spread,
    mtt_top50,
    templates_for,
    text_spread,
    translate_tags,
)

__all__ = [
    "DEFAULT_TEMPLATE",
    "AudioTower",
    "AudioTowerConfig",
    "EmbeddingCollapseError",
    "MuLan",
    "MuLanConfig",
    "TextBackbone",
    "TextBackboneError",
    "TextTower",
    "TextTowerConfig",
    "check_text_spread",
    "load_text_backbone",
    "masked_mean",
    "module_fingerprint",
    "mtt_top50",
    "templates_for",
    "text_spread",
    "translate_tags",
]
