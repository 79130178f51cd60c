"""Zero-shot tagging helpers: tag parsing, the text-collapse check.

Vocabularies, translations and prompt templates live in :mod:`lyrebird.mulan.vocabulary`
(re-exported here for convenience).
"""

from __future__ import annotations

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

