"""The source-independent description of a piece that the arranger turns into clips.

Scores (music21) and procedural generators both produce a :class:`Piece`: notes in quarter-note
units plus the facts the source knows (meter, key and where it comes from, title, composer…).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field


@dataclass(frozen=True)
class ScoreNote:
    """A note in score time. ``voice`` 0 is the highest voice."""

    offset_ql: float  # onset, quarter notes from the start
    dur_ql: float  # duration, quarter notes (> 0)
    pitch: int  # MIDI pitch (a GM drum key for drum notes)
    voice: int = 0
    velocity: int = 0  # 0: let the arranger choose; 1..127 fixed by construction


@dataclass(frozen=True)
class Meter:
    """A time signature in force from ``offset_ql`` on."""

    offset_ql: float
    ratio: str  # e.g. "6/8"
    beat_ql: float  # length of one beat in quarter notes (6/8 → 1.5)
    bar_ql: float  # length of one bar in quarter notes


@dataclass
class Piece:
    """Notes and source facts of one work (or one movement / section of a work)."""

    work_id: str  # the musical work; clips of one work never span two splits
    collection: str
    source: str  # where it came from, e.g. "music21:oneills1850/0001-0050.abc#3"
    style: str  # style key, e.g. "reel", "folk song", "chorale", "house" (see captions)
    notes: list[ScoreNote]
    meters: list[Meter] = field(default_factory=list)
    title: str | None = None
    composer: str | None = None
    origin: str | None = None  # country/region named by the source
    rhythm: str | None = None  # dance type named by the source (ABC R: field)
    key: tuple[int, str] | None = None  # (tonic pitch class, mode) stated by the source
    key_source: str | None = None  # e.g. "abc K: field", "humdrum key tandem", "construction"
    key_scope: str = "work"  # "work": true throughout; "opening": true of the opening only
    tags: tuple[str, ...] = ()  # extra tags the source makes true (e.g. "chorale")
    # Fixed by construction (procedural pieces); None lets the arranger choose.
    qpm: float | None = None  # quarter notes per minute
    instruments: tuple[str, ...] | None = None  # instrument per voice, top voice first
    drum_kit: str | None = None  # GM kit name when drum notes are present
    drums: list[ScoreNote] = field(default_factory=list)  # drum-channel notes
    ensemble_name: str | None = None  # e.g. "rock band" (procedural) for captions
    transpose_ok: bool = True

    @property
    def n_voices(self) -> int:
        return 1 + max((n.voice for n in self.notes), default=-1)

    @property
    def length_ql(self) -> float:
        ends = [n.offset_ql + n.dur_ql for n in (*self.notes, *self.drums)]
        return max(ends, default=0.0)

    def meter_at(self, offset_ql: float) -> Meter | None:
        """The time signature in force at ``offset_ql`` (None when the source gives none)."""
        cur = None
        for m in self.meters:
            if m.offset_ql <= offset_ql + 1e-9:
                cur = m
        return cur or (self.meters[0] if self.meters else None)


_ARTICLES = re.compile(r"^(the|a|an|der|die|das|le|la|les|el|los)\s+|,\s*(the|a|an)$")


def slug(text: str) -> str:
    """Normalise a title for matching: ASCII, lower case, no leading/trailing article."""
    t = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower().strip()
    t = re.sub(r"\s+", " ", re.sub(r"[^a-z0-9, ]+", " ", t)).strip()
    for _ in range(2):
        t = _ARTICLES.sub("", t).strip()
    return re.sub(r"[^a-z0-9]+", "-", t).strip("-")
