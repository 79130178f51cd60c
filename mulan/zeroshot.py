"""Zero-shot tagging helpers: tag vocabularies, prompt templates, prompt ensembles and the
text-collapse check.

The MagnaTagATune top-50 vocabulary ships with the package (``vocab/mtt_top50_tags.txt``, the
standard order of musicnn / sota-music-tagging-models / MARBLE), with German, French and
Spanish names so that tag prompts can be written in each caption language.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from importlib import resources

import torch
import torch.nn.functional as F

DEFAULT_TEMPLATE = "A {} track"  # the MusCALL prompt used by MuQ-MuLan
"""The single-prompt template of the MuQ-MuLan MTT evaluation."""

TEMPLATES: dict[str, tuple[str, ...]] = {
    "en": ("A {} track", "{} music", "A piece of music: {}", "This song is {}"),
    "de": ("Ein Musikstück: {}", "Musik: {}", "{}", "Ein Titel mit {}"),
    "fr": ("Un morceau : {}", "Musique : {}", "{}", "Un titre avec {}"),
    "es": ("Una pieza musical: {}", "Música: {}", "{}", "Un tema con {}"),
}
"""Prompt ensembles per language; the first template of each is its single prompt."""

# English MTT tag → (de, fr, es)
MTT_TRANSLATIONS: dict[str, tuple[str, str, str]] = {
    "guitar": ("Gitarre", "guitare", "guitarra"),
    "classical": ("klassisch", "classique", "clásica"),
    "slow": ("langsam", "lent", "lenta"),
    "techno": ("Techno", "techno", "techno"),
    "strings": ("Streicher", "cordes", "cuerdas"),
    "drums": ("Schlagzeug", "batterie", "batería"),
    "electronic": ("elektronisch", "électronique", "electrónica"),
    "rock": ("Rock", "rock", "rock"),
    "fast": ("schnell", "rapide", "rápida"),
    "piano": ("Klavier", "piano", "piano"),
    "ambient": ("Ambient", "ambient", "ambient"),
    "beat": ("Beat", "beat", "ritmo"),
    "violin": ("Violine", "violon", "violín"),
    "vocal": ("Gesang", "vocal", "vocal"),
    "synth": ("Synthesizer", "synthé", "sintetizador"),
    "female": ("weiblich", "féminin", "femenina"),
    "indian": ("indisch", "indien", "india"),
    "opera": ("Oper", "opéra", "ópera"),
    "male": ("männlich", "masculin", "masculina"),
    "singing": ("Singen", "chant", "canto"),
    "vocals": ("Gesangsstimmen", "voix", "voces"),
    "no vocals": ("ohne Gesang", "sans voix", "sin voces"),
    "harpsichord": ("Cembalo", "clavecin", "clavecín"),
    "loud": ("laut", "fort", "fuerte"),
    "quiet": ("leise", "calme", "tranquila"),
    "flute": ("Flöte", "flûte", "flauta"),
    "woman": ("Frau", "femme", "mujer"),
    "male vocal": ("Männergesang", "chant masculin", "voz masculina"),
    "no vocal": ("kein Gesang", "sans chant", "sin voz"),
    "pop": ("Pop", "pop", "pop"),
    "soft": ("sanft", "doux", "suave"),
    "sitar": ("Sitar", "sitar", "sitar"),
    "solo": ("Solo", "solo", "solo"),
    "man": ("Mann", "homme", "hombre"),
    "classic": ("Klassik", "classique", "clásico"),
    "choir": ("Chor", "chœur", "coro"),
    "voice": ("Stimme", "voix", "voz"),
    "new age": ("New Age", "new age", "new age"),
    "dance": ("Tanz", "danse", "baile"),
    "male voice": ("Männerstimme", "voix d'homme", "voz de hombre"),
    "female vocal": ("Frauengesang", "chant féminin", "voz femenina"),
    "beats": ("Beats", "beats", "ritmos"),
    "harp": ("Harfe", "harpe", "arpa"),
    "cello": ("Cello", "violoncelle", "violonchelo"),
    "no voice": ("ohne Stimme", "sans voix humaine", "sin voz humana"),
    "weird": ("seltsam", "bizarre", "extraña"),
    "country": ("Country", "country", "country"),
    "metal": ("Metal", "metal", "metal"),
    "female voice": ("Frauenstimme", "voix de femme", "voz de mujer"),
    "choral": ("Chormusik", "choral", "coral"),
}
LANGS: tuple[str, ...] = ("en", "de", "fr", "es")


class EmbeddingCollapseError(RuntimeError):
    """Distinct texts map to (nearly) the same embedding: the text tower has collapsed."""


def _vocab_text(name: str) -> str:
    return resources.files(__package__).joinpath("vocab", name).read_text("utf-8")


@lru_cache(maxsize=1)
def mtt_top50() -> tuple[str, ...]:
    """The MagnaTagATune top-50 tags in the standard order (shipped in the package)."""
    tags = tuple(t.strip() for t in _vocab_text("mtt_top50_tags.txt").splitlines() if t.strip())
    if len(tags) != 50:
        raise RuntimeError(f"mtt_top50_tags.txt has {len(tags)} tags, expected 50")
    return tags


def translate_tags(tags: Sequence[str], lang: str) -> list[str]:
    """Tag names in ``lang`` (``en`` returns them unchanged; unknown tags stay English)."""
    if lang == "en":
        return list(tags)
    if lang not in LANGS:
        raise ValueError(f"no tag translations for language {lang!r}; have {LANGS}")
    i = LANGS.index(lang) - 1
    return [MTT_TRANSLATIONS[t][i] if t in MTT_TRANSLATIONS else t for t in tags]


def templates_for(lang: str = "en", ensemble: bool = False) -> list[str]:
    """The prompt template(s) of a language: the first one, or the whole ensemble."""
    if lang not in TEMPLATES:
        raise ValueError(f"no prompt templates for language {lang!r}; have {sorted(TEMPLATES)}")
    t = TEMPLATES[lang]
    return list(t) if ensemble else [t[0]]


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
