"""MuLan on audio files: zero-shot tags of a file (``lyrebird tag``)."""

from __future__ import annotations

import os
from collections.abc import Sequence

from lyrebird.encoders import load_audio

from .model import MuLan
from .vocabulary import DEFAULT_TEMPLATE, check_template, templates_for


def tag_file(path: str | os.PathLike, model: str = "default", tags: Sequence[str] | None = None,
             template: str = DEFAULT_TEMPLATE, ensemble: bool = False) -> dict[str, float]:
    """Zero-shot tags of an audio file (``lyrebird tag``): ``{tag: cosine}``, best first.

    ``model`` is a shipped MuLan name or checkpoint folder; ``tags`` default to the MTT top-50;
    ``ensemble`` averages the English prompt ensemble instead of ``template``. Raises
    :class:`~lyrebird.encoders.AudioError` for an unreadable file, ``ValueError`` for a
    template without ``{}`` or an empty tag list, :class:`EmbeddingCollapseError` when the text
    tower cannot tell the prompts apart.
    """
    check_template(template)
    if tags is not None and not list(tags):
        raise ValueError("no tags given")
    m = MuLan.load(model)
    wav = load_audio(path, m.audio.sample_rate)
    return m.tag(wav, m.audio.sample_rate, tags, templates_for("en", True) if ensemble
                 else template)
