"""MuLan two-tower music–text model (audio tower from ``lyrebird.encoders``, text tower, DCL).

>>> from lyrebird.mulan import MuLan
>>> m = MuLan.load("default")
>>> m.embed_text(["a calm piano piece", "ein schneller Rocksong"])   # (2, 512), L2-normalised
>>> m.embed_audio(wav, sr)                                          # (512,)
>>> m.tag(wav, sr, tags=["piano", "rock"])                           # {tag: cosine}

Imports only ``lyrebird.encoders`` and ``lyrebird.core``; training lives in
``lyrebird.train.trainers.mulan_module``. Names load on first use, so importing a light
submodule (``lyrebird.mulan.vocabulary``, ``lyrebird.mulan.config``) does not load torch models.
"""

from __future__ import annotations

from lyrebird.core.lazy import lazy_exports

_EXPORTS: dict[str, str] = {
    "AudioTowerConfig": ".config", "MuLanConfig": ".config", "TextTowerConfig": ".config",
    "MuLan": ".model",
    "TextBackbone": ".text_backbones", "TextBackboneError": ".text_backbones",
    "load_text_backbone": ".text_backbones",
    "AudioTower": ".towers", "TextTower": ".towers", "masked_mean": ".towers",
    "EmbeddingCollapseError": ".zeroshot", "check_text_spread": ".zeroshot",
    "text_spread": ".zeroshot",
    "DEFAULT_TEMPLATE": ".vocabulary", "mtt_top50": ".vocabulary", "templates_for": ".vocabulary",
    "translate_tags": ".vocabulary",
    "module_fingerprint": "lyrebird.core.fingerprint",
}

__all__ = sorted(_EXPORTS)


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
