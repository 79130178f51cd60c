"""One home for the vocabularies and prompts of zero-shot tagging and its evaluation.

- the MagnaTagATune top-50 tags in the standard order (musicnn / sota-music-tagging-models /
  MARBLE), :func:`mtt_top50`, with German, French and Spanish names (:data:`MTT_TRANSLATIONS`);
- the standard MTT split lists (:func:`mtt_split_lists`) and the test split's labels
  (:func:`mtt_test_split`), shipped in ``vocab/``;
- the prompt templates: :data:`DEFAULT_TEMPLATE` ("A {} track", MuQ-MuLan's MTT prompt) and a
  prompt ensemble per language (:data:`TEMPLATES`).
"""

from __future__ import annotations

import gzip
from collections.abc import Sequence
from functools import lru_cache
from importlib import resources

import numpy as np

DEFAULT_TEMPLATE = "A {} track"  # the MusCALL prompt used by MuQ-MuLan
"""The single-prompt template of the MuQ-MuLan MTT evaluation."""

TEMPLATES: dict[str, tuple[str, ...]] = {
    "en": ("A {} track", "{} music", "A piece of music: {}", "This song is {}"),
    "de": ("Ein Musikstück: {}", "Musik: {}", "{}", "Ein Titel mit {}"),
    "fr": ("Un morceau : {}", "Musique : {}", "{}", "Un titre avec {}"),
    "es": ("Una pieza musical: {}", "Música: {}", "{}", "Un tema con {}"),
}
"""Prompt ensembles per language; the first template of each is its single prompt."""

MAX_TEMPLATE_CHARS = 200


def check_template(template: str) -> str:
    """``template`` if it is a prompt template with exactly one ``{}`` where the tag goes (and
    no other braces), at most :data:`MAX_TEMPLATE_CHARS` characters; else ``ValueError`` naming
    what was expected. The one check every caller (CLI, app, API, model) uses."""
    if not isinstance(template, str) or "{}" not in template:
        raise ValueError(f"prompt template {template!r} has no '{{}}' where the tag goes, "
                         "e.g. 'A {} track'")
    if len(template) > MAX_TEMPLATE_CHARS:
        raise ValueError(f"prompt template has {len(template)} characters; the limit is "
                         f"{MAX_TEMPLATE_CHARS}")
    if template.count("{") != 1 or template.count("}") != 1:
        raise ValueError(f"prompt template {template!r} must have exactly one '{{}}' and no "
                         "other braces")
    return template

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

TAG_SYNONYMS: dict[str, tuple[str, ...]] = {  # one label → the MTT/MSD tags that say the same
    "no vocals": ("no vocals", "no vocal", "no voice"),
    "vocals": ("vocal", "vocals", "voice", "singing"),
    "male vocals": ("male vocal", "male voice", "male", "man", "male vocalists"),
    "female vocals": ("female vocal", "female voice", "female", "woman", "female vocalists",
                      "female vocalist"),
    "choir": ("choir", "choral"),
    "classical": ("classical", "classic"),
    "beat": ("beat", "beats"),
    "quiet": ("quiet", "soft"),
    # the MSD tags of the distilled tag head (lyrebird.mulan.tag_head)
    "electronic": ("electronic", "electronica", "electro"),
    "metal": ("metal", "heavy metal"),
    "chill": ("chill", "chillout", "Mellow"),
}
"""Tags that say the same thing: one chip in the app, one concept in tag-space search."""

MSD_TOP50: tuple[str, ...] = (
    "rock", "pop", "alternative", "indie", "electronic", "female vocalists", "dance", "00s",
    "alternative rock", "jazz", "beautiful", "metal", "chillout", "male vocalists",
    "classic rock", "soul", "indie rock", "Mellow", "electronica", "80s", "folk", "90s", "chill",
    "instrumental", "punk", "oldies", "blues", "hard rock", "ambient", "acoustic", "experimental",
    "female vocalist", "guitar", "Hip-Hop", "70s", "party", "country", "easy listening", "sexy",
    "catchy", "funk", "electro", "heavy metal", "Progressive rock", "60s", "rnb", "indie pop",
    "sad", "House", "happy",
)
"""The Million Song Dataset (Last.fm) top-50 tags in the musicnn ``MSD_*`` models' output order."""

MSD_TRANSLATIONS: dict[str, tuple[str, str, str]] = {
    "alternative": ("Alternative", "alternatif", "alternativo"),
    "indie": ("Indie", "indé", "indie"),
    "female vocalists": ("Sängerinnen", "chanteuses", "cantantes femeninas"),
    "00s": ("2000er", "années 2000", "años 2000"),
    "alternative rock": ("Alternative Rock", "rock alternatif", "rock alternativo"),
    "jazz": ("Jazz", "jazz", "jazz"),
    "beautiful": ("wunderschön", "magnifique", "hermosa"),
    "chillout": ("Chillout", "chillout", "chillout"),
    "male vocalists": ("Sänger", "chanteurs", "cantantes masculinos"),
    "classic rock": ("Classic Rock", "rock classique", "rock clásico"),
    "soul": ("Soul", "soul", "soul"),
    "indie rock": ("Indie-Rock", "rock indé", "rock indie"),
    "Mellow": ("sanft und ruhig", "doux et posé", "melosa"),
    "electronica": ("Electronica", "electronica", "electrónica"),
    "80s": ("80er", "années 80", "años 80"),
    "folk": ("Folk", "folk", "folk"),
    "90s": ("90er", "années 90", "años 90"),
    "chill": ("entspannt", "détendu", "relajada"),
    "instrumental": ("instrumental", "instrumental", "instrumental"),
    "punk": ("Punk", "punk", "punk"),
    "oldies": ("Oldies", "vieux tubes", "clásicos antiguos"),
    "blues": ("Blues", "blues", "blues"),
    "hard rock": ("Hardrock", "hard rock", "hard rock"),
    "acoustic": ("akustisch", "acoustique", "acústica"),
    "experimental": ("experimentell", "expérimental", "experimental"),
    "female vocalist": ("Sängerin", "chanteuse", "cantante femenina"),
    "Hip-Hop": ("Hip-Hop", "hip-hop", "hip-hop"),
    "70s": ("70er", "années 70", "años 70"),
    "party": ("Party", "fête", "fiesta"),
    "easy listening": ("Easy Listening", "easy listening", "easy listening"),
    "sexy": ("sexy", "sexy", "sexy"),
    "catchy": ("eingängig", "accrocheur", "pegadiza"),
    "funk": ("Funk", "funk", "funk"),
    "electro": ("Electro", "électro", "electro"),
    "heavy metal": ("Heavy Metal", "heavy metal", "heavy metal"),
    "Progressive rock": ("Progressive Rock", "rock progressif", "rock progresivo"),
    "60s": ("60er", "années 60", "años 60"),
    "rnb": ("R&B", "R&B", "R&B"),
    "indie pop": ("Indie-Pop", "pop indé", "pop indie"),
    "sad": ("traurig", "triste", "triste"),
    "House": ("House", "house", "house"),
    "happy": ("fröhlich", "joyeux", "alegre"),
}
"""German, French and Spanish names of the MSD tags not already in :data:`MTT_TRANSLATIONS`."""


def _vocab_bytes(name: str) -> bytes:
    return resources.files(__package__).joinpath("vocab", name).read_bytes()


def _vocab_text(name: str) -> str:
    return _vocab_bytes(name).decode("utf-8")


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
    table = {**MSD_TRANSLATIONS, **MTT_TRANSLATIONS}
    return [table[t][i] if t in table else t for t in tags]


def templates_for(lang: str = "en", ensemble: bool = False) -> list[str]:
    """The prompt template(s) of a language: the first one, or the whole ensemble."""
    if lang not in TEMPLATES:
        raise ValueError(f"no prompt templates for language {lang!r}; have {sorted(TEMPLATES)}")
    t = TEMPLATES[lang]
    return list(t) if ensemble else [t[0]]


def mtt_test_split() -> tuple[list[str], np.ndarray]:
    """The standard MTT test split shipped with the package: clip paths (as in the MTT
    archive, e.g. ``"d/artist-album-01-title-0-29.mp3"``) and labels ``(4332, 50)`` in the
    order of :func:`mtt_top50`."""
    text = _vocab_text("mtt_test_labels.txt")
    paths, rows = [], []
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        path, _, idx = line.partition("\t")
        y = np.zeros(50, dtype=bool)
        if idx.strip():
            y[[int(k) for k in idx.split(",")]] = True
        paths.append(path)
        rows.append(y)
    return paths, np.stack(rows)


def mtt_split_lists() -> dict[str, list[str]]:
    """The standard MTT split (jongpillee/music_dataset_split), shipped with the package:
    ``{"train"|"valid"|"test": [relative mp3 path]}``."""
    return {s: gzip.decompress(_vocab_bytes(f"mtt_{s}.txt.gz")).decode().split()
            for s in ("train", "valid", "test")}


