"""Zero-shot tagging helpers: tag parsing, the text-collapse check.

Vocabularies, translations and prompt templates live in :mod:`lyrebird.mulan.vocabulary`
(re-exported here for convenience).
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import torch
import torch.nn.functional as F

from .vocabulary import (  # noqa: F401  (re-exported)
    DEFAULT_TEMPLATE,
    LANGS,
    MTT_TRANSLATIONS,
    TEMPLATES,
    mtt_top50,
    templates_for,
    translate_tags,
)


class EmbeddingCollapseError(RuntimeError):
    """Distinct texts map to (nearly) the same embedding: the text tower has collapsed."""


def parse_tags(spec: str | None) -> list[str] | None:
    """``"a,b,c"`` → ``["a", "b", "c"]``; ``None``/empty → ``None`` (the default vocabulary)."""
    if not spec:
        return None
    tags = [t.strip() for t in spec.split(",") if t.strip()]
    return tags or None


def text_spread(emb: torch.Tensor) -> dict[str, float]:
    """Statistics of pairwise cosines between ``(N, D)`` embeddings (N ≥ 2): mean, max, min."""
    e = F.normalize(torch.as_tensor(emb).float(), dim=-1)
    n = e.shape[0]
    if n < 2:
        raise ValueError("text_spread needs at least two embeddings")
    c = e @ e.T
    off = c[~torch.eye(n, dtype=torch.bool)]
    return {"mean_cos": float(off.mean()), "max_cos": float(off.max()),
            "min_cos": float(off.min()), "n": n}


def check_text_spread(emb: torch.Tensor, texts: Sequence[str], max_mean_cos: float = 0.98
                      ) -> dict[str, float]:
    """Fail loudly when distinct texts give near-identical embeddings.

    Raises :class:`EmbeddingCollapseError` when the mean pairwise cosine of the embeddings of
    ``texts`` (which should be distinct prompts) exceeds ``max_mean_cos``; the message names
    the most similar pair. Returns the spread statistics otherwise.
    """
    stats = text_spread(emb)
    if stats["mean_cos"] > max_mean_cos:
        e = F.normalize(torch.as_tensor(emb).float(), dim=-1)
        c = (e @ e.T).fill_diagonal_(-2.0)
        i, j = divmod(int(c.argmax()), c.shape[1])
        raise EmbeddingCollapseError(
            f"text embeddings have collapsed: mean pairwise cosine {stats['mean_cos']:.4f} > "
            f"{max_mean_cos} over {stats['n']} distinct prompts (e.g. {texts[i]!r} vs "
            f"{texts[j]!r}: {float(c[i, j]):.4f}). The text tower maps different texts to "
            "the same vector; this model cannot rank tags or queries.")
    return stats


def tag_file(path: str | os.PathLike, model: str = "default", tags: Sequence[str] | None = None,
             template: str = DEFAULT_TEMPLATE, ensemble: bool = False) -> dict[str, float]:
    """Zero-shot tags of an audio file (``lyrebird tag``): ``{tag: cosine}``, best first.

    ``model`` is a shipped MuLan name or checkpoint folder; ``tags`` default to the MTT top-50;
    ``ensemble`` averages the English prompt ensemble instead of ``template``. Raises
    :class:`~lyrebird.encoders.AudioError` for an unreadable file, ``ValueError`` for a
    template without ``{}`` or an empty tag list, :class:`EmbeddingCollapseError` when the text
    tower cannot tell the prompts apart.
    """
    from lyrebird.encoders import load_audio

    from .model import MuLan

    if "{}" not in template:
        raise ValueError(f"prompt template {template!r} has no '{{}}' for the tag")
    if tags is not None and not list(tags):
        raise ValueError("no tags given")
    m = MuLan.load(model)
    wav = load_audio(path, m.audio.sample_rate)
    return m.tag(wav, m.audio.sample_rate, tags, templates_for("en", True) if ensemble
                 else template)
