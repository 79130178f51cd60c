"""Frozen teacher models for distillation and pseudo-labels: PyTorch ports of published taggers.

Usage::

    from lyrebird.train.teachers import load_teacher
    tagger = load_teacher("MTT_musicnn")
    tagger.tag(wav, sr, top_k=3)   # {"rock": 0.59, "metal": 0.38, ...}

:data:`TEACHERS` maps each name to a plain dict: ``family``, ``dataset``, ``tags`` (the model's
output vocabulary, in order), ``licence`` and ``source``. The weights ship with the package
(``checkpoints/musicnn/``); loading needs no network and no TensorFlow.
"""

from __future__ import annotations

from lyrebird.encoders.musicnn_mel import FrontendConfig, LogMelFrontend, slaney_mel_filterbank

from .musicnn import (
    MSD_TAGS,
    MTT_TAGS,
    Musicnn,
    MusicnnConfig,
    MusicnnTagger,
    MusicnnVGG,
    VGGConfig,
    load_musicnn,
)

_MUSICNN_SOURCE = "musicnn==0.1.0 (Pons & Serra 2019), converted from its TF1 checkpoints"

TEACHERS: dict[str, dict] = {
    "MTT_musicnn": {"family": "musicnn", "dataset": "MagnaTagATune", "tags": MTT_TAGS,
                    "licence": "ISC", "source": _MUSICNN_SOURCE},
    "MSD_musicnn": {"family": "musicnn", "dataset": "Million Song Dataset (Last.fm tags)",
                    "tags": MSD_TAGS, "licence": "ISC", "source": _MUSICNN_SOURCE},
    "MTT_vgg": {"family": "vgg", "dataset": "MagnaTagATune", "tags": MTT_TAGS,
                "licence": "ISC", "source": _MUSICNN_SOURCE},
    "MSD_vgg": {"family": "vgg", "dataset": "Million Song Dataset (Last.fm tags)",
                "tags": MSD_TAGS, "licence": "ISC", "source": _MUSICNN_SOURCE},
}
"""Registry of the shipped teachers: name → info (plain dicts; ``tags`` in output order)."""

MUSICNN_PAIR: tuple[str, ...] = ("MTT_musicnn", "MSD_musicnn")
"""The teachers of the musicnn tag peers and of the distilled tag head, in output order (their
100 tags are :func:`lyrebird.mulan.tag_head.head_tags`)."""


def load_teacher(name: str = "MTT_musicnn", device: str = "cpu",
                 batch_size: int | None = None) -> MusicnnTagger:
    """Load a shipped teacher by name (see :data:`TEACHERS`), frozen and in eval mode.

    ``name``: a ``teacher`` spec (docs/architecture.md, "Naming a model"; the ``teacher:`` kind
    may be left out): ``MTT_musicnn`` or ``teacher:MTT_musicnn?batch_size=8``.
    ``batch_size``: ≈3 s windows per forward pass (≈ 25 MB of activations each); ``None``
    picks 1 on CPU (fastest there) and 32 on a GPU. The spec's ``batch_size`` option wins.
    """
    from lyrebird.core.model_spec import SpecError, parse_spec

    spec = parse_spec(name, "teacher").expect("teacher")
    spec.check_options(("batch_size",))
    name = spec.name
    if spec.option("batch_size") is not None:
        try:
            batch_size = int(spec.option("batch_size", ""))
        except ValueError:
            raise SpecError(f"model spec {spec.written!r}: batch_size is a whole number") from None
    if name not in TEACHERS:
        raise ValueError(f"unknown teacher {name!r}; choose one of {sorted(TEACHERS)}")
    tagger = load_musicnn(name, device=device, batch_size=batch_size)
    if tagger.tags != TEACHERS[name]["tags"]:
        raise ValueError(f"checkpoint {name!r} has a different tag list than TEACHERS")
    return tagger


__all__ = [
    "MSD_TAGS",
    "MTT_TAGS",
    "MUSICNN_PAIR",
    "TEACHERS",
    "FrontendConfig",
    "LogMelFrontend",
    "Musicnn",
    "MusicnnConfig",
    "MusicnnTagger",
    "MusicnnVGG",
    "VGGConfig",
    "load_musicnn",
    "load_teacher",
    "slaney_mel_filterbank",
]
