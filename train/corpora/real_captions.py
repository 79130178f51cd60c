"""Captions for real recordings, composed only from what is known about each clip.

Three kinds of caption per clip and language, each with its ``source``:

* ``file``: the recording's own text — genre, title, artist or composer, album — as its
  files carry them (``genre``, ``title`` … columns; see ``docs/data.md``);
* ``teacher``: estimates from the teacher taggers (``teacher_tags``, see ``lyrebird teach``):
  tempo and loudness words, style, instruments, voice;
* ``file+teacher``: both in one sentence.

Teacher words are estimates: such captions say so in their ``source``, and the held-out test
split gets ``file`` captions only, so an evaluation on it never reads a teacher's guess as
ground truth. Genuine ``tags`` and ``genre`` cells are never written here.

Languages: en, de, fr, es (the word lists below are complete for each).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from .text_sources import tags_from_text

LANGS = ("en", "de", "fr", "es")

# teacher tag → (en, de, fr, es); grouped by the role the word plays in a caption
TEMPO_LEVEL = {  # en/de before the style noun; fr/es phrases after it (no agreement needed)
    "fast": ("fast", "schnell", "au tempo rapide", "de ritmo rápido"),
    "slow": ("slow", "langsam", "au tempo lent", "de ritmo lento"),
    "loud": ("loud", "laut", "au son puissant", "de sonido fuerte"),
    "quiet": ("quiet", "leise", "au son calme", "de sonido tranquilo"),
    "soft": ("soft", "sanft", "au son doux", "de sonido suave"),
}
STYLES = {
    "rock": ("rock", "Rockmusik", "rock", "rock"),
    "metal": ("metal", "Metal", "metal", "metal"),
    "heavy metal": ("heavy metal", "Heavy Metal", "heavy metal", "heavy metal"),
    "hard rock": ("hard rock", "Hard Rock", "hard rock", "hard rock"),
    "punk": ("punk", "Punk", "punk", "punk"),
    "electronic": ("electronic music", "elektronische Musik", "musique électronique",
                   "música electrónica"),
    "techno": ("techno", "Techno", "techno", "techno"),
    "electronica": ("electronica", "Electronica", "electronica", "electronica"),
    "dance": ("dance music", "Tanzmusik", "musique de danse", "música de baile"),
    "classical": ("classical music", "klassische Musik", "musique classique", "música clásica"),
    "ambient": ("ambient music", "Ambient-Musik", "musique ambient", "música ambiental"),
    "new age": ("new age music", "New-Age-Musik", "musique new age", "música new age"),
    "pop": ("pop", "Popmusik", "pop", "pop"),
    "jazz": ("jazz", "Jazz", "jazz", "jazz"),
    "blues": ("blues", "Blues", "blues", "blues"),
    "folk": ("folk music", "Folk", "musique folk", "música folk"),
    "country": ("country music", "Country-Musik", "musique country", "música country"),
    "funk": ("funk", "Funk", "funk", "funk"),
    "Hip-Hop": ("hip-hop", "Hip-Hop", "hip-hop", "hip-hop"),
    "opera": ("opera", "Oper", "opéra", "ópera"),
    "indian": ("Indian music", "indische Musik", "musique indienne", "música india"),
}
INSTRUMENTS = {
    "guitar": ("guitar", "Gitarre", "guitare", "guitarra"),
    "drums": ("drums", "Schlagzeug", "batterie", "batería"),
    "piano": ("piano", "Klavier", "piano", "piano"),
    "strings": ("strings", "Streichern", "cordes", "cuerdas"),
    "violin": ("violin", "Violine", "violon", "violín"),
    "cello": ("cello", "Cello", "violoncelle", "violonchelo"),
    "synth": ("synthesizer", "Synthesizer", "synthétiseur", "sintetizador"),
    "flute": ("flute", "Flöte", "flûte", "flauta"),
    "harp": ("harp", "Harfe", "harpe", "arpa"),
    "harpsichord": ("harpsichord", "Cembalo", "clavecin", "clavecín"),
    "sitar": ("sitar", "Sitar", "sitar", "sitar"),
    "choir": ("choir", "Chor", "chœur", "coro"),
    "beats": ("beats", "Beats", "beats", "ritmos"),
}
VOICES = {
    "female vocal": ("female vocals", "Frauengesang", "voix féminine", "voz femenina"),
    "male vocal": ("male vocals", "Männergesang", "voix masculine", "voz masculina"),
    "no vocals": ("no vocals", "ohne Gesang", "sans voix", "sin voces"),
    "instrumental": ("instrumental", "instrumental", "instrumental", "instrumental"),
}
_WORDS = {
    "music": ("music", "Musik", "musique", "música"),
    "with": ("with", "mit", "avec", "con"),
    "and": ("and", "und", "et", "y"),
    "track": ("A track", "Ein Stück", "Un morceau", "Una pieza"),  # + "titled" agrees
    "titled": ("titled", "mit dem Titel", "intitulé", "titulada"),
    "by": ("by", "von", "de", "de"),
    "album": ("from the album", "aus dem Album", "de l'album", "del álbum"),
    "genre": ("Genre", "Genre", "Genre", "Género"),
}


def _w(table: dict[str, tuple[str, ...]], key: str, lang: str) -> str:
    return table[key][LANGS.index(lang)]


def _join(words: list[str], lang: str) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + f" {_w(_WORDS, 'and', lang)} {words[-1]}"


def _clean(v: Any) -> str | None:
    if v is None or (isinstance(v, float) and v != v):
        return None
    v = str(v).strip()
    return v or None


def file_caption(row: dict[str, Any], lang: str) -> str | None:
    """The clip's own text as a sentence (None when it has no genre and no title)."""
    genre, title = _clean(row.get("genre")), _clean(row.get("title"))
    if genre and not tags_from_text(genre=genre):
        genre = None  # a genre value that names no music genre ("Sound FX", "Widelands")
    who = _clean(row.get("composer")) or _clean(row.get("artist"))
    album = _clean(row.get("album"))
    if not genre and not title:
        return None
    if genre:
        text = f"{genre} music" if lang == "en" else genre
        if title:
            text += f': "{title}"'
    else:
        text = f'{_w(_WORDS, "track", lang)} {_w(_WORDS, "titled", lang)} "{title}"'
    if who:
        text += f" {_w(_WORDS, 'by', lang)} {who}"
    if album and album != title:
        text += f', {_w(_WORDS, "album", lang)} "{album}"'
    return text + "."


def teacher_caption(tags: list[str], lang: str) -> str | None:
    """Teacher tags as a sentence: "Fast, loud rock with guitar and drums; male vocals"
    (de: "Rockmusik, schnell und laut, mit …"; fr/es: "Rock au tempo rapide … avec …")."""
    tags = list(tags or [])
    adj = [_w(TEMPO_LEVEL, t, lang) for t in tags if t in TEMPO_LEVEL][:2]
    style = next((_w(STYLES, t, lang) for t in tags if t in STYLES), None)
    inst = [_w(INSTRUMENTS, t, lang) for t in tags if t in INSTRUMENTS][:3]
    voice = next((_w(VOICES, t, lang) for t in tags if t in VOICES), None)
    if not (adj or style or inst):
        return None
    core = style or _w(_WORDS, "music", lang)
    if not adj:
        text = core
    elif lang == "en":
        text = ", ".join(adj) + " " + core
    elif lang == "de":
        text = f"{core}, {_join(adj, lang)},"
    else:
        text = f"{core} {_join(adj, lang)}"
    if inst:
        text += f" {_w(_WORDS, 'with', lang)} {_join(inst, lang)}"
    text = text.rstrip(",")
    if voice:
        text += f"; {voice}"
    return text[0].upper() + text[1:]


def clip_captions(row: dict[str, Any], langs: tuple[str, ...] = LANGS) -> list[dict[str, str]]:
    """Captions ``[{lang, text, source}]`` of one manifest row (see the module docstring)."""
    out = []
    honest_only = row.get("split") == "test"
    for lang in langs:
        f = file_caption(row, lang)
        t = None if honest_only else teacher_caption(list(row.get("teacher_tags") or []), lang)
        if f:
            out.append({"lang": lang, "text": f, "source": "file"})
        if t:
            out.append({"lang": lang, "text": t + ".", "source": "teacher"})
        if f and t:
            out.append({"lang": lang, "text": f"{f} {t}.", "source": "file+teacher"})
    return out


def caption_manifest(manifest: str | os.PathLike, out: str | os.PathLike | None = None,
                     langs: tuple[str, ...] = LANGS) -> dict[str, int]:
    """Replace the ``captions`` of every row of a real-recording manifest with composed ones
    (other columns untouched); write to ``out`` (default: in place). Returns counts per source.
    """
    from .manifest import read_manifest, write_manifest

    for lang in langs:
        if lang not in LANGS:
            raise ValueError(f"no caption word lists for language {lang!r}; have {LANGS}")
    df = read_manifest(manifest)
    caps = [clip_captions(r, langs) for r in df.to_dict("records")]
    df = df.copy()
    df["captions"] = caps
    write_manifest(df, Path(out) if out is not None else Path(manifest))
    counts: dict[str, int] = {}
    for c in caps:
        for item in c:
            counts[item["source"]] = counts.get(item["source"], 0) + 1
    counts["clips_without_caption"] = sum(1 for c in caps if not c)
    return counts


__all__ = ["LANGS", "caption_manifest", "clip_captions", "file_caption", "teacher_caption"]
