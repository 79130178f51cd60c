"""General-MIDI instruments the corpus uses: names, families, playable ranges and ensembles.

Every label about instrumentation in the demo corpus comes from these tables, so it is exact by
construction: the renderer plays exactly the GM programs named here.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Instrument:
    """One General-MIDI melodic program (0-based program number, bank 0)."""

    program: int  # GM program, 0..127
    name: str  # English name used in labels and captions
    family: str  # instrument family label (see FAMILIES)
    low: int  # lowest comfortable MIDI pitch
    high: int  # highest comfortable MIDI pitch
    sustained: bool = True  # False for plucked/struck sounds that decay
    min_velocity: int = 1  # softer notes are silent in FluidR3's velocity layers


_I = Instrument
INSTRUMENTS: dict[str, Instrument] = {i.name: i for i in [
    _I(0, "piano", "piano", 21, 105, False),
    _I(4, "electric piano", "electric piano", 28, 103, False),
    _I(6, "harpsichord", "harpsichord", 29, 89, False),
    _I(8, "celesta", "mallets", 60, 108, False),
    _I(10, "music box", "mallets", 60, 108, False),
    _I(11, "vibraphone", "mallets", 53, 86, False, 56),
    _I(12, "marimba", "mallets", 45, 96, False),
    _I(13, "xylophone", "mallets", 65, 96, False, 64),
    _I(16, "drawbar organ", "organ", 36, 96),
    _I(19, "church organ", "organ", 24, 96),
    _I(20, "reed organ", "organ", 36, 96),
    _I(21, "accordion", "accordion", 41, 93),
    _I(22, "harmonica", "harmonica", 60, 96),
    _I(24, "nylon guitar", "guitar", 40, 83, False),
    _I(25, "steel guitar", "guitar", 40, 83, False),
    _I(27, "clean electric guitar", "electric guitar", 40, 86, False),
    _I(29, "overdriven guitar", "electric guitar", 40, 86),
    _I(30, "distortion guitar", "electric guitar", 40, 86),
    _I(32, "acoustic bass", "bass", 28, 55, False),
    _I(33, "electric bass", "bass", 28, 60, False),
    _I(38, "synth bass", "synth", 28, 60),
    _I(40, "violin", "violin", 55, 100),
    _I(41, "viola", "viola", 48, 88),
    _I(42, "cello", "cello", 36, 76),
    _I(43, "contrabass", "bass", 28, 55),
    _I(45, "pizzicato strings", "strings", 36, 96, False),
    _I(46, "harp", "harp", 24, 100, False),
    _I(48, "string ensemble", "strings", 28, 96),
    _I(52, "choir", "choir", 40, 81),
    _I(53, "voice oohs", "choir", 40, 81),
    _I(56, "trumpet", "brass", 54, 86),
    _I(57, "trombone", "brass", 34, 72),
    _I(58, "tuba", "brass", 28, 58),
    _I(60, "french horn", "brass", 34, 77),
    _I(61, "brass section", "brass", 34, 84),
    _I(64, "soprano saxophone", "saxophone", 56, 87),
    _I(65, "alto saxophone", "saxophone", 49, 81),
    _I(66, "tenor saxophone", "saxophone", 44, 76),
    _I(67, "baritone saxophone", "saxophone", 36, 69),
    _I(68, "oboe", "oboe", 58, 91),
    _I(70, "bassoon", "bassoon", 34, 75),
    _I(71, "clarinet", "clarinet", 50, 94),
    _I(72, "piccolo", "flute", 74, 108),
    _I(73, "flute", "flute", 60, 96),
    _I(74, "recorder", "recorder", 60, 96),
    _I(75, "pan flute", "flute", 60, 96),
    _I(78, "whistle", "flute", 62, 98),
    _I(80, "square lead", "synth", 36, 96),
    _I(81, "sawtooth lead", "synth", 36, 96),
    _I(88, "new age pad", "synth", 36, 96),
    _I(89, "warm pad", "synth", 36, 96),
    _I(91, "choir pad", "synth", 36, 96),
    _I(104, "sitar", "sitar", 48, 84, False),
    _I(105, "banjo", "banjo", 48, 84, False),
    _I(109, "bagpipe", "bagpipe", 55, 81),
    _I(110, "fiddle", "violin", 55, 100),
]}
"""Melodic instruments by name."""

DRUM_KITS: dict[str, int] = {"standard kit": 0, "room kit": 8, "power kit": 16,
                             "electronic kit": 24, "808 kit": 25, "jazz kit": 32,
                             "brush kit": 40}
"""GM percussion kits (bank 128 preset numbers) played on MIDI channel 10 (index 9)."""

DRUM_CHANNEL = 9
"""0-based MIDI channel of the General-MIDI drum kit ("channel 10")."""

FAMILIES: tuple[str, ...] = tuple(sorted({i.family for i in INSTRUMENTS.values()} | {"drums"}))
"""Every instrument-family label used in the corpus (single-family clips)."""

STRING_FAMILIES = frozenset({"violin", "viola", "cello", "strings"})
SYNTH_FAMILIES = frozenset({"synth"})

# Melody instruments for one-voice tunes (folk songs, fiddle tunes).
MELODY_SOLO: tuple[str, ...] = (
    "violin", "fiddle", "flute", "whistle", "recorder", "accordion", "harmonica", "piano",
    "harp", "nylon guitar", "steel guitar", "clarinet", "oboe", "trumpet", "cello",
    "harpsichord", "marimba", "vibraphone", "music box", "celesta", "xylophone", "banjo",
    "bagpipe", "pan flute", "sitar", "alto saxophone", "electric piano", "church organ",
    "bassoon", "french horn", "square lead", "piccolo", "viola",
)
# Keyboard-like instruments that can play every voice of a polyphonic score alone.
POLY_SOLO: tuple[str, ...] = ("piano", "harpsichord", "church organ", "reed organ", "harp",
                              "nylon guitar", "accordion", "electric piano", "marimba",
                              "drawbar organ")


@dataclass(frozen=True)
class Ensemble:
    """Instruments for the voices of a score, top voice first; the last one repeats downwards."""

    name: str
    family: str  # family label when homogeneous, "mixed" otherwise
    voices: tuple[str, ...]


ENSEMBLES: dict[str, Ensemble] = {e.name: e for e in [
    Ensemble("string quartet", "strings", ("violin", "violin", "viola", "cello")),
    Ensemble("string orchestra", "strings", ("string ensemble",)),
    Ensemble("choir", "choir", ("choir",)),
    Ensemble("vocal ensemble", "choir", ("voice oohs",)),
    Ensemble("brass ensemble", "brass", ("trumpet", "trumpet", "french horn", "trombone",
                                         "tuba")),
    Ensemble("wind quintet", "mixed", ("flute", "oboe", "clarinet", "french horn", "bassoon")),
    Ensemble("saxophone quartet", "saxophone", ("soprano saxophone", "alto saxophone",
                                                "tenor saxophone", "baritone saxophone")),
    Ensemble("recorder consort", "recorder", ("recorder",)),
    Ensemble("synth pad ensemble", "synth", ("warm pad",)),
    Ensemble("mixed consort", "mixed", ("recorder", "violin", "viola", "cello")),
]}
"""Named ensembles for polyphonic scores."""


def fit_to_range(pitch: int, inst: Instrument) -> int:
    """Move ``pitch`` (MIDI) by whole octaves into ``inst``'s range (closest octave)."""
    while pitch < inst.low:
        pitch += 12
    while pitch > inst.high:
        pitch -= 12
    return max(0, min(127, pitch))


def best_transposition(pitches: list[int], inst: Instrument, wanted: int) -> int:
    """The shift (semitones) nearest ``wanted`` that keeps most of ``pitches`` in range.

    Tries ``wanted`` plus whole octaves; returns the candidate with the fewest notes outside
    ``inst``'s range (ties: the smallest octave move).
    """
    if not pitches:
        return wanted
    lo, hi = min(pitches), max(pitches)
    best = None
    for octave in (0, -12, 12, -24, 24, -36, 36):
        s = wanted + octave
        out = sum(1 for p in pitches if not inst.low <= p + s <= inst.high)
        score = (out, abs(octave), abs((lo + hi) / 2 + s - (inst.low + inst.high) / 2))
        if best is None or score < best[0]:
            best = (score, s)
    return best[1]
