"""Genre text queries for the real-music evaluation: what is asked, in four languages, and
which genuine tags make a track relevant.

A track's labels are its ``tags`` (genre and instrument words from the files' own text, never a
teacher) plus its ``genre`` field, lower-cased (:func:`track_labels`). A track is relevant to a
query when one of its labels is among the query's ``targets``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

LANGS: tuple[str, ...] = ("en", "de", "fr", "es")


@dataclass(frozen=True)
class GenreQuery:
    """One query: ``texts`` per language and the genuine labels that make a track relevant."""

    key: str
    targets: frozenset[str]
    texts: dict[str, str]


def _q(key: str, targets: Iterable[str], en: str, de: str, fr: str, es: str) -> GenreQuery:
    return GenreQuery(key, frozenset(targets), {"en": en, "de": de, "fr": fr, "es": es})


METAL = ("metal", "heavy metal", "death metal", "black metal", "doom metal", "thrash metal",
         "female fronted metal", "power metal", "symphonic metal", "progressive metal")
ELECTRONIC = ("electronic", "electronica", "techno", "dance", "edm", "trance", "house",
              "drum and bass", "dubstep", "electro", "idm", "synthpop", "chiptune")
SCORE = ("soundtrack", "score", "film score", "orchestral", "orchestra", "cinematic",
         "game music", "video game music")

GENRE_QUERIES: tuple[GenreQuery, ...] = (
    _q("metal", METAL, "heavy metal with distorted guitars",
       "Heavy Metal mit verzerrten Gitarren", "du heavy metal aux guitares saturées",
       "heavy metal con guitarras distorsionadas"),
    _q("electronic", ELECTRONIC, "electronic dance music", "elektronische Tanzmusik",
       "musique électronique de danse", "música electrónica de baile"),
    _q("score", SCORE, "orchestral film score", "orchestrale Filmmusik",
       "musique de film orchestrale", "banda sonora orquestal"),
    _q("classical", ("classical", "baroque", "orchestral", "chamber music", "strings",
                     "symphony"),
       "classical music with strings", "klassische Musik mit Streichern",
       "musique classique avec des cordes", "música clásica con cuerdas"),
    _q("piano", ("piano", "solo piano"), "a calm piano piece", "ein ruhiges Klavierstück",
       "un morceau de piano calme", "una pieza tranquila de piano"),
    _q("rock", ("rock", "hard rock", "punk", "alternative rock", "indie rock", "guitar"),
       "rock music with electric guitar", "Rockmusik mit E-Gitarre",
       "du rock avec guitare électrique", "música rock con guitarra eléctrica"),
    _q("ambient", ("ambient", "new age", "drone", "chillout"), "slow ambient soundscape",
       "langsame Ambient-Klanglandschaft", "paysage sonore ambient lent",
       "paisaje sonoro ambiental lento"),
    _q("female_vocals", ("female vocals", "female vocal", "female fronted metal",
                         "female voice"),
       "a song with a female singer", "ein Lied mit einer Sängerin",
       "une chanson avec une chanteuse", "una canción con una cantante"),
)
"""The queries; a query enters the score only when the split has a relevant track."""


def track_labels(row: dict[str, Any] | Any) -> frozenset[str]:
    """Lower-cased genuine labels of a manifest row: its ``tags`` and its ``genre``."""
    tags = row.get("tags") if hasattr(row, "get") else None
    out = {str(t).strip().lower() for t in (tags if tags is not None else []) if str(t).strip()}
    genre = row.get("genre") if hasattr(row, "get") else None
    if isinstance(genre, str) and genre.strip():
        out.add(genre.strip().lower())
    return frozenset(out)


__all__ = ["GENRE_QUERIES", "LANGS", "GenreQuery", "track_labels"]
