"""Keys and modes: parsing them from source notation, transposing, and estimating them.

A key is a tonic pitch class (0 = C … 11 = B) plus a mode name. Source keys (an ABC ``K:``
field with a mode, a Humdrum ``*G:mix`` tandem, a MusicXML ``<mode>`` the encoder set) are
*exact*; keys from :func:`estimate_key` are *estimated* and must be flagged so.
"""

from __future__ import annotations

import re

import numpy as np

PC_NAMES: tuple[str, ...] = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
"""Canonical spelling of each pitch class in labels."""

MODES: tuple[str, ...] = ("major", "minor", "dorian", "phrygian", "lydian", "mixolydian",
                          "locrian")
"""Mode names used in the ``mode`` column (ionian → major, aeolian → minor)."""

_MODE_ALIASES = {
    "": "major", "maj": "major", "major": "major", "ion": "major", "ionian": "major",
    "m": "minor", "min": "minor", "minor": "minor", "aeo": "minor", "aeolian": "minor",
    "dor": "dorian", "dorian": "dorian", "phr": "phrygian", "phrygian": "phrygian",
    "lyd": "lydian", "lydian": "lydian", "mix": "mixolydian", "mixolydian": "mixolydian",
    "loc": "locrian", "locrian": "locrian",
}
_STEP_PC = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}


def key_label(tonic_pc: int, mode: str) -> str:
    """``"D minor"``-style label for a tonic pitch class and a mode."""
    return f"{PC_NAMES[tonic_pc % 12]} {mode}"


def is_24_class(mode: str | None) -> bool:
    """True for the modes of the 24-class key task (major, minor)."""
    return mode in ("major", "minor")


def _tonic(letter: str, accidental: str) -> int:
    pc = _STEP_PC[letter.upper()]
    for ch in accidental:
        pc += {"#": 1, "b": -1, "-": -1}.get(ch, 0)
    return pc % 12


def parse_key(label: str) -> tuple[int, str]:
    """``"C# major"`` or ``"Db major"`` → ``(1, "major")`` (tonic pitch class 0–11, mode).

    Only the 24 major/minor keys are accepted (the key task's classes).
    """
    m = re.fullmatch(r"\s*([A-G])([#b]?)\s+(major|minor)\s*", label)
    if not m:
        raise ValueError(f"key label {label!r}: expected '<tonic> major|minor'")
    return _tonic(m.group(1), m.group(2)), m.group(3)


def key_score(est: str, ref: str) -> float:
    """MIREX weighted key score of one estimate: 1 same key, 0.5 perfect fifth (same mode,
    estimated tonic a fifth above the reference), 0.3 relative major/minor, 0.2 parallel, else 0.
    """
    et, em = parse_key(est)
    rt, rm = parse_key(ref)
    if (et, em) == (rt, rm):
        return 1.0
    if em == rm and (et - rt) % 12 == 7:
        return 0.5
    if em != rm and ((rm == "major" and (et - rt) % 12 == 9) or (rm == "minor" and (et - rt) % 12 == 3)):
        return 0.3
    if em != rm and et == rt:
        return 0.2
    return 0.0


_ABC_K = re.compile(r"^\s*([A-Ga-g])([#b]?)\s*([A-Za-z]*)")


def parse_abc_key(field: str) -> tuple[int, str] | None:
    """Parse an ABC ``K:`` value (``"G"``, ``"Ador"``, ``"F#m"``, ``"Bb Mix"``) → (tonic, mode).

    Returns None for ``K:none``, ``K:HP`` (bagpipe) and anything without a tonic letter. Per the
    ABC standard a bare tonic means major.
    """
    m = _ABC_K.match(field)
    if not m or field.strip().lower().startswith(("none", "hp")):
        return None
    word = m.group(3).lower()
    mode = None
    for n in (len(word), 3, 1):  # "minor", "mix", "m"
        mode = _MODE_ALIASES.get(word[:n])
        if mode is not None:
            break
    if mode is None:
        if not word or word.startswith(("exp", "clef", "treble", "bass", "alto")):
            mode = "major"
        else:
            return None
    return _tonic(m.group(1), m.group(2)), mode


_KERN_KEY = re.compile(r"^\*([A-Ga-g])([#-]*):([a-z]{3})?\s*$")


def parse_humdrum_key(token: str) -> tuple[int, str] | None:
    """Parse a Humdrum key tandem (``*G:mix``, ``*f#:``, ``*E-:``) → (tonic, mode).

    Upper-case tonic letters mean major, lower-case minor; a three-letter suffix names a mode.
    """
    m = _KERN_KEY.match(token.strip())
    if not m:
        return None
    letter, acc, suffix = m.group(1), m.group(2), m.group(3)
    mode = _MODE_ALIASES.get(suffix or "", None) if suffix else (
        "major" if letter.isupper() else "minor")
    if mode is None:
        return None
    return _tonic(letter, acc), mode


# Krumhansl & Kessler (1982) probe-tone profiles, C major / C minor.
_KK_MAJOR = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
_KK_MINOR = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])


def pitch_class_histogram(pitches: np.ndarray, durations: np.ndarray) -> np.ndarray:
    """Duration-weighted pitch-class histogram ``(12,)`` of MIDI ``pitches`` (any units)."""
    hist = np.zeros(12)
    np.add.at(hist, np.asarray(pitches, dtype=int) % 12, np.asarray(durations, dtype=float))
    return hist


def estimate_key(pitches: np.ndarray, durations: np.ndarray) -> tuple[int, str, float] | None:
    """Krumhansl–Schmuckler key estimate over 24 major/minor keys.

    Args:
        pitches: ``(N,)`` MIDI pitches of the notes heard.
        durations: ``(N,)`` their durations (seconds or beats; only ratios matter).

    Returns:
        ``(tonic_pc, "major"|"minor", r)`` with ``r`` the Pearson correlation of the best key
        (a confidence in [-1, 1]), or None when there are no notes. This is an ESTIMATE.
    """
    hist = pitch_class_histogram(pitches, durations)
    if hist.sum() <= 0 or np.count_nonzero(hist) < 2:
        return None
    best = (-2.0, 0, "major")
    for mode, prof in (("major", _KK_MAJOR), ("minor", _KK_MINOR)):
        for tonic in range(12):
            r = float(np.corrcoef(hist, np.roll(prof, tonic))[0, 1])
            if r > best[0]:
                best = (r, tonic, mode)
    return best[1], best[2], best[0]
