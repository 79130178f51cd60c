"""Procedurally composed pieces for styles the score corpus lacks, labelled by construction.

Four generators: drum-kit grooves (GM channel 10), electronic/dance tracks (drum machine, synth
bass, lead and pad), rock backing (drums, bass, electric guitar power chords, organ) and ambient
pads. Style, tempo, meter, key, mode and instruments are chosen here, so they are exact.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from lyrebird.core.fingerprint import stable_hash

from .keys import PC_NAMES
from .piece import Meter, Piece, ScoreNote

# GM drum keys
KICK, SIDE, SNARE, CLAP, CHH, PHH, OHH, CRASH, RIDE = 36, 37, 38, 39, 42, 44, 46, 49, 51
TOM_LO, TOM_MID, TOM_HI, COWBELL, RIM = 45, 47, 50, 56, 37
METER_44 = [Meter(0.0, "4/4", 1.0, 4.0)]

# 16-step patterns (one 4/4 bar of 16th notes): "x" hit, "o" accented hit, "." rest.
DRUM_STYLES: dict[str, dict] = {
    "rock": dict(bpm=(90, 140), kit=("standard kit", "room kit", "power kit"),
                 parts={KICK: "o.......o.o.....", SNARE: "....o.......o...",
                        CHH: "x.x.x.x.x.x.x.x."}),
    "funk": dict(bpm=(90, 112), kit=("standard kit", "room kit"),
                 parts={KICK: "o..x..o...o..x..", SNARE: "....o..x.x..o..x",
                        CHH: "xxxxxxxxxxxxxxxx"}),
    "disco": dict(bpm=(112, 128), kit=("standard kit", "room kit"),
                  parts={KICK: "o...o...o...o...", SNARE: "....o.......o...",
                         CHH: "x.x.x.x.x.x.x.x.", OHH: "..x...x...x...x."}),
    "half-time": dict(bpm=(70, 95), kit=("standard kit", "power kit"),
                      parts={KICK: "o.....o...o.....", SNARE: "........o.......",
                             CHH: "x.x.x.x.x.x.x.x."}),
    "breakbeat": dict(bpm=(95, 130), kit=("standard kit", "room kit", "electronic kit"),
                      parts={KICK: "o.........o.....", SNARE: "....o..x.x..o...",
                             CHH: "x.x.x.x.x.x.x.xx"}),
    "bossa nova": dict(bpm=(120, 150), kit=("jazz kit", "brush kit"),
                       parts={KICK: "o..xo..xo..xo..x", RIM: "o..o..o...o..o..",
                              CHH: "xxxxxxxxxxxxxxxx"}),
    "reggae": dict(bpm=(66, 84), kit=("standard kit", "room kit"),
                   parts={KICK: "........o.......", RIM: "........o.......",
                          CHH: "x.x.x.x.x.x.x.x."}),
}
# Triplet-feel styles: 12 steps per bar (eighth-note triplets).
TRIPLET_STYLES: dict[str, dict] = {
    "shuffle": dict(bpm=(80, 120), kit=("standard kit", "room kit"),
                    parts={KICK: "o.....o.....", SNARE: "...o.....o..",
                           CHH: "x.xx.xx.xx.x"}),
    "swing": dict(bpm=(110, 200), kit=("jazz kit", "brush kit"),
                  parts={RIDE: "x..x.xx..x.x", PHH: "...x.....x..", KICK: "o.....o....."}),
}

_MAJOR = (0, 2, 4, 5, 7, 9, 11)
_MINOR = (0, 2, 3, 5, 7, 8, 10)
PROGRESSIONS = {  # scale degrees (0-based) of chord roots, per mode
    "major": [(0, 4, 5, 3), (0, 3, 4, 3), (5, 3, 0, 4), (0, 5, 3, 4), (0, 3, 0, 4)],
    "minor": [(0, 5, 2, 6), (0, 3, 4, 0), (0, 6, 5, 6), (0, 5, 6, 0), (0, 3, 5, 4)],
}
ELECTRONIC_STYLES = {"house": (118, 128), "techno": (125, 140), "trance": (132, 142),
                     "synth-pop": (100, 120), "drum and bass": (165, 178),
                     "electro": (108, 128)}
ROCK_STYLES = {"rock": (100, 140), "hard rock": (90, 130), "punk": (160, 200),
               "pop rock": (96, 126)}


def _hits(pattern: str, part: int, bars: int, steps: int, rng: np.random.Generator,
          base: int = 90) -> list[ScoreNote]:
    """Drum notes of ``pattern`` (``steps`` per 4/4 bar) repeated for ``bars`` bars."""
    step_ql = 4.0 / steps
    out = []
    for b in range(bars):
        for i, ch in enumerate(pattern):
            if ch == ".":
                continue
            vel = base + (18 if ch == "o" else 0) + int(rng.integers(-8, 9))
            out.append(ScoreNote(b * 4.0 + i * step_ql, step_ql, part, 0, int(np.clip(vel, 1, 127))))
    return out


def _fill(bar: int, rng: np.random.Generator) -> list[ScoreNote]:
    """A one-beat tom fill on beat 4 of ``bar`` plus nothing else."""
    toms = [TOM_HI, TOM_HI, TOM_MID, TOM_LO] if rng.random() < 0.5 else [SNARE, TOM_HI, TOM_MID, TOM_LO]
    return [ScoreNote(bar * 4.0 + 3.0 + 0.25 * i, 0.25, t, 0, 100) for i, t in enumerate(toms)]


def _groove(style: str, bars: int, rng: np.random.Generator) -> tuple[list[ScoreNote], str, float]:
    """(drum notes, kit name, qpm) for a drum style, with crashes and a fill every 4 bars."""
    spec = DRUM_STYLES.get(style) or TRIPLET_STYLES[style]
    steps = 16 if style in DRUM_STYLES else 12
    qpm = float(rng.integers(spec["bpm"][0], spec["bpm"][1] + 1))
    kit = str(rng.choice(spec["kit"]))
    notes = []
    for part, pat in spec["parts"].items():
        for n in _hits(pat, part, bars, steps, rng, base=80 if part in (CHH, RIDE, PHH) else 95):
            bar = int(n.offset_ql // 4)
            if bar % 4 == 3 and n.offset_ql % 4 >= 3.0 and style not in ("swing", "bossa nova"):
                continue  # room for the fill
            notes.append(n)
    for bar in range(bars):
        if bar % 4 == 0 and style not in ("bossa nova", "reggae"):
            notes.append(ScoreNote(bar * 4.0, 1.0, CRASH, 0, 100))
        if bar % 4 == 3 and style not in ("swing", "bossa nova"):
            notes.extend(_fill(bar, rng))
    return notes, kit, qpm


def _chord(root_pc: int, degree: int, mode: str) -> list[int]:
    """Triad pitch classes (relative to C) on scale ``degree`` of the key."""
    scale = _MAJOR if mode == "major" else _MINOR
    return [(root_pc + scale[(degree + k) % 7]) % 12 for k in (0, 2, 4)]


def _in_octave(pc: int, low: int) -> int:
    """The MIDI pitch of class ``pc`` at or just above ``low``."""
    return low + (pc - low) % 12


def drum_groove(index: int, seed: int) -> Piece:
    """A drum-kit groove alone, 8 bars, on GM channel 10."""
    rng = np.random.default_rng(stable_hash(seed, "drums", index))
    style = str(rng.choice(sorted(DRUM_STYLES) + sorted(TRIPLET_STYLES)))
    drums, kit, qpm = _groove(style, 8, rng)
    return Piece(work_id=f"procedural:drums:{index:05d}", collection="drum_grooves",
                 source=f"procedural:drums:{index}", style=style, notes=[], meters=METER_44,
                 title=f"{style} groove", composer=None, tags=("drums", "beat"), qpm=qpm,
                 instruments=(), drum_kit=kit, drums=drums, ensemble_name="drum kit",
                 transpose_ok=False)


def electronic(index: int, seed: int) -> Piece:
    """An electronic/dance track: drum machine, synth bass, arpeggiated lead and a pad."""
    rng = np.random.default_rng(stable_hash(seed, "electronic", index))
    style = str(rng.choice(sorted(ELECTRONIC_STYLES)))
    lo, hi = ELECTRONIC_STYLES[style]
    qpm = float(rng.integers(lo, hi + 1))
    mode = "minor" if rng.random() < 0.6 else "major"
    tonic = int(rng.integers(12))
    prog = PROGRESSIONS[mode][int(rng.integers(len(PROGRESSIONS[mode])))]
    bars = 8
    if style == "drum and bass":
        drums, _, _ = _groove("breakbeat", bars, rng)
    else:
        drums = _hits("o...o...o...o...", KICK, bars, 16, rng, 100)
        drums += _hits("..x...x...x...x." if style != "synth-pop" else "x.x.x.x.x.x.x.x.",
                       CHH, bars, 16, rng, 75)
        drums += _hits("....o.......o...", CLAP if style in ("house", "techno", "trance") else SNARE,
                       bars, 16, rng, 95)
    kit = "808 kit" if style in ("electro", "techno") else "electronic kit"
    lead, pad = ("sawtooth lead" if rng.random() < 0.5 else "square lead",
                 str(rng.choice(["warm pad", "new age pad", "choir pad"])))
    notes: list[ScoreNote] = []
    arp = [0, 1, 2, 1] if rng.random() < 0.5 else [0, 1, 2, 0, 2, 1, 0, 2]
    for bar in range(bars):
        chord = _chord(tonic, prog[bar % 4], mode)
        t = bar * 4.0
        for i in range(16):  # lead: 16th-note arpeggio
            pc = chord[arp[i % len(arp)]]
            notes.append(ScoreNote(t + i * 0.25, 0.22, _in_octave(pc, 67), 0, 80))
        for pc in chord:  # pad: whole-bar chord
            notes.append(ScoreNote(t, 4.0, _in_octave(pc, 55), 1, 60))
        for i in range(8):  # bass: off-beat or driving eighths on the root
            if style in ("house", "trance") and i % 2 == 0:
                continue
            notes.append(ScoreNote(t + i * 0.5, 0.45, _in_octave(chord[0], 33), 2, 95))
    return Piece(work_id=f"procedural:electronic:{index:05d}", collection="electronic",
                 source=f"procedural:electronic:{index}", style=style, notes=notes,
                 meters=METER_44, title=f"{style} track", composer=None,
                 key=(tonic, mode), key_source="construction", key_scope="work",
                 tags=("electronic", "drum machine"), qpm=qpm,
                 instruments=(lead, pad, "synth bass"), drum_kit=kit, drums=drums,
                 ensemble_name="synthesizers and drum machine", transpose_ok=False)


def rock_backing(index: int, seed: int) -> Piece:
    """A rock backing track: drums, electric bass, guitar power chords, sometimes organ."""
    rng = np.random.default_rng(stable_hash(seed, "rock", index))
    style = str(rng.choice(sorted(ROCK_STYLES)))
    lo, hi = ROCK_STYLES[style]
    mode = "minor" if style == "hard rock" or rng.random() < 0.3 else "major"
    tonic = int(rng.choice([4, 9, 2, 7, 0, 5]))  # guitar-friendly keys
    prog = PROGRESSIONS[mode][int(rng.integers(len(PROGRESSIONS[mode])))]
    bars = 8
    drums, kit, _ = _groove("rock", bars, rng)
    qpm = float(rng.integers(lo, hi + 1))
    guitar = {"hard rock": "distortion guitar", "punk": "distortion guitar",
              "pop rock": str(rng.choice(["clean electric guitar", "overdriven guitar"]))
              }.get(style, str(rng.choice(["overdriven guitar", "distortion guitar"])))
    organ = rng.random() < 0.3
    notes: list[ScoreNote] = []
    for bar in range(bars):
        root = _chord(tonic, prog[bar % 4], mode)[0]
        t = bar * 4.0
        g = _in_octave(root, 40)
        for i in range(8):  # guitar: eighth-note power chords (root, fifth, octave)
            for p in (g, g + 7, g + 12):
                notes.append(ScoreNote(t + i * 0.5, 0.45, p, 0, 90 if i % 2 == 0 else 75))
        for i in range(8):  # bass: eighth notes on the root
            notes.append(ScoreNote(t + i * 0.5, 0.45, _in_octave(root, 28), 1, 95))
        if organ:
            for pc in _chord(tonic, prog[bar % 4], mode):
                notes.append(ScoreNote(t, 4.0, _in_octave(pc, 60), 2, 60))
    inst = (guitar, "electric bass") + (("drawbar organ",) if organ else ())
    return Piece(work_id=f"procedural:rock:{index:05d}", collection="rock",
                 source=f"procedural:rock:{index}", style=style, notes=notes, meters=METER_44,
                 title=f"{style} backing", composer=None, key=(tonic, mode),
                 key_source="construction", key_scope="work", tags=("rock", "band"), qpm=qpm,
                 instruments=inst, drum_kit=kit, drums=drums, ensemble_name="rock band",
                 transpose_ok=False)


def ambient(index: int, seed: int) -> Piece:
    """An ambient piece: slow pad chords and a sparse bell/piano arpeggio, no drums."""
    rng = np.random.default_rng(stable_hash(seed, "ambient", index))
    mode = "minor" if rng.random() < 0.5 else "major"
    tonic = int(rng.integers(12))
    prog = PROGRESSIONS[mode][int(rng.integers(len(PROGRESSIONS[mode])))]
    qpm = float(rng.integers(56, 80))
    pad = str(rng.choice(["warm pad", "new age pad", "choir pad", "string ensemble"]))
    bell = str(rng.choice(["celesta", "vibraphone", "electric piano", "harp", "music box"]))
    notes: list[ScoreNote] = []
    for bar in range(6):
        chord = _chord(tonic, prog[bar % 4], mode)
        t = bar * 4.0
        for pc in chord:
            notes.append(ScoreNote(t, 4.0, _in_octave(pc, 52), 1, 55))
        for i in range(4):
            if rng.random() < 0.8:
                pc = chord[int(rng.integers(3))]
                notes.append(ScoreNote(t + i, 1.5, _in_octave(pc, 72), 0, 65))
    return Piece(work_id=f"procedural:ambient:{index:05d}", collection="ambient",
                 source=f"procedural:ambient:{index}", style="ambient", notes=notes,
                 meters=METER_44, title=f"ambient in {PC_NAMES[tonic]} {mode}", composer=None,
                 key=(tonic, mode), key_source="construction", key_scope="work",
                 tags=("ambient",), qpm=qpm, instruments=(bell, pad),
                 ensemble_name=None, transpose_ok=False)


GENERATORS: dict[str, Callable[[int, int], Piece]] = {
    "drum_grooves": drum_groove, "electronic": electronic, "rock": rock_backing,
    "ambient": ambient,
}
"""Procedural collections: name → generator(index, seed) → Piece."""
