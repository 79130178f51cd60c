"""Turn a :class:`~.piece.Piece` into rendered-clip plans: instruments, tempo, key, dynamics.

Every choice is drawn from a random generator seeded by (corpus seed, piece source), so plans
are deterministic and independent of processing order. Every label a plan carries is either a
fact the source states, a choice made here (exact by construction), or an estimate that says so.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from statistics import median
from typing import Any

import numpy as np

from lyrebird.core.fingerprint import stable_hash

from .instruments import (
    DRUM_CHANNEL,
    DRUM_KITS,
    ENSEMBLES,
    INSTRUMENTS,
    MELODY_SOLO,
    best_transposition,
    fit_to_range,
)
from .keys import estimate_key, key_label
from .piece import Piece, ScoreNote
from .render import Note

STYLE_RATE: dict[str, tuple[float, float]] = {  # top-voice notes per second, slow..fast
    "reel": (6.0, 9.0), "jig": (5.5, 8.5), "slip jig": (5.5, 8.0), "hornpipe": (4.0, 7.0),
    "strathspey": (3.5, 6.0), "fling": (4.5, 7.0), "clog": (4.5, 7.0), "air": (1.5, 3.5),
    "waltz": (2.5, 5.0), "march": (3.5, 6.0), "slide": (5.5, 8.0), "walkaround": (3.5, 6.0),
    "tune": (3.0, 7.5), "folk song": (1.8, 5.0), "chorale": (1.0, 2.4),
    "mass movement": (1.0, 3.0), "madrigal": (1.3, 3.5), "medieval piece": (1.3, 3.5),
    "quartet movement": (1.8, 6.5),
}
# Polyphonic scores: ("solo", instrument) or ("ensemble", name) with weights, per collection.
POLY_CHOICES: dict[str, list[tuple[str, str, int]]] = {
    "bach_chorales": [("solo", "church organ", 3), ("solo", "piano", 2), ("solo", "harpsichord", 1),
                      ("solo", "reed organ", 1), ("ensemble", "choir", 2),
                      ("ensemble", "string orchestra", 2), ("ensemble", "string quartet", 1),
                      ("ensemble", "brass ensemble", 2), ("ensemble", "wind quintet", 1),
                      ("ensemble", "saxophone quartet", 1), ("solo", "nylon guitar", 1)],
    "palestrina": [("ensemble", "choir", 4), ("ensemble", "vocal ensemble", 2),
                   ("ensemble", "recorder consort", 1), ("ensemble", "brass ensemble", 1),
                   ("solo", "church organ", 2), ("ensemble", "string orchestra", 1),
                   ("ensemble", "mixed consort", 1), ("ensemble", "synth pad ensemble", 1)],
    "monteverdi": [("ensemble", "choir", 3), ("ensemble", "vocal ensemble", 2),
                   ("solo", "harpsichord", 2), ("ensemble", "string quartet", 1),
                   ("ensemble", "recorder consort", 1), ("ensemble", "mixed consort", 1),
                   ("solo", "piano", 1)],
    "trecento": [("ensemble", "recorder consort", 2), ("ensemble", "vocal ensemble", 2),
                 ("ensemble", "mixed consort", 2), ("solo", "harp", 1),
                 ("solo", "church organ", 1), ("ensemble", "choir", 1), ("solo", "harpsichord", 1)],
    "quartets": [("ensemble", "string quartet", 6), ("solo", "piano", 2),
                 ("ensemble", "string orchestra", 1), ("ensemble", "wind quintet", 1),
                 ("ensemble", "saxophone quartet", 1), ("solo", "harpsichord", 1)],
}
_DEFAULT_POLY = [("solo", "piano", 2), ("solo", "church organ", 1), ("ensemble", "string quartet", 1)]
DYNAMICS: dict[str, tuple[int, float]] = {  # level → (base MIDI velocity, RMS target dBFS)
    "soft": (46, -30.0), "medium": (78, -23.0), "loud": (108, -17.0)}
MAX_VOICES = 15  # melodic channels (16 minus the drum channel)


@dataclass(frozen=True)
class ClipPlan:
    """Everything needed to render one clip and label it."""

    clip_id: str
    offset_s: float  # where the clip starts in the arranged piece, seconds
    notes: tuple[Note, ...]  # in piece time, seconds
    programs: dict[int, tuple[int, int]]  # channel → (bank, preset)
    room: tuple[float, float, int]  # (rt60 s, wet, seed) for render.add_room
    level_dbfs: float  # RMS target of the clip
    labels: dict[str, Any] = field(default_factory=dict)
    duration_s: float = 10.0  # length of the clip, seconds


@dataclass(frozen=True)
class _Player:
    voices: tuple[int, ...]
    instrument: str
    channel: int


def _orchestrate(piece: Piece, rng: np.random.Generator) -> tuple[list[_Player], str, str, str]:
    """Choose players → (players, instrument label, family label, "solo"|"ensemble")."""
    nv = piece.n_voices
    if piece.instruments is not None:  # fixed by construction
        players = [_Player((v,), name, v if v < DRUM_CHANNEL else v + 1)
                   for v, name in enumerate(piece.instruments)]
        names = list(dict.fromkeys(piece.instruments))
        if piece.drum_kit is not None:
            names.append("drum kit")
        fams = {INSTRUMENTS[n].family for n in piece.instruments} | (
            {"drums"} if piece.drum_kit else set())
        family = fams.pop() if len(fams) == 1 else "mixed"
        label = piece.ensemble_name or " + ".join(names)
        return players, label, family, "solo" if len(names) == 1 else "ensemble"
    if nv <= 1:
        if rng.random() < 0.75:
            name = str(rng.choice(MELODY_SOLO))
            return [_Player((0,), name, 0)], name, INSTRUMENTS[name].family, "solo"
        a, b = (str(x) for x in rng.choice(MELODY_SOLO, size=2, replace=False))
        fam_a, fam_b = INSTRUMENTS[a].family, INSTRUMENTS[b].family
        return ([_Player((0,), a, 0), _Player((0,), b, 1)], f"{a} + {b}",
                fam_a if fam_a == fam_b else "mixed", "ensemble")
    choices = POLY_CHOICES.get(piece.collection, _DEFAULT_POLY)
    w = np.array([c[2] for c in choices], dtype=float)
    kind, name, _ = choices[int(rng.choice(len(choices), p=w / w.sum()))]
    nch = min(nv, MAX_VOICES)
    chan = [v if v < DRUM_CHANNEL else v + 1 for v in range(nch)]
    groups = [tuple(v for v in range(nv) if min(v, nch - 1) == c) for c in range(nch)]
    if kind == "solo":
        players = [_Player(groups[c], name, chan[c]) for c in range(nch)]
        return players, name, INSTRUMENTS[name].family, "solo"
    ens = ENSEMBLES[name]
    players = []
    for c in range(nch):
        # top voice → first instrument, bottom voice → last, inner voices fill in between
        if c == nch - 1 and nch > 1:
            idx = len(ens.voices) - 1
        else:
            idx = min(c, max(0, len(ens.voices) - 2)) if len(ens.voices) > 1 else 0
        players.append(_Player(groups[c], ens.voices[idx], chan[c]))
    return players, name, ens.family, "ensemble"


def _room(family: str, ensemble: str, rng: np.random.Generator) -> tuple[float, float, int]:
    if family in ("organ", "choir"):
        rt, wet = rng.uniform(1.4, 2.6), rng.uniform(0.25, 0.45)
    elif ensemble == "ensemble" and family in ("strings", "brass", "recorder", "saxophone"):
        rt, wet = rng.uniform(0.8, 1.8), rng.uniform(0.15, 0.35)
    else:
        rt, wet = rng.uniform(0.3, 1.2), rng.uniform(0.05, 0.25)
    return round(float(rt), 2), round(float(wet), 3), int(rng.integers(2**31))


def _choose_qpm(piece: Piece, rng: np.random.Generator) -> float:
    """Quarter notes per minute: from construction, else from a style-typical note rate."""
    if piece.qpm is not None:
        return float(piece.qpm)
    top = [n.dur_ql for n in piece.notes if n.voice == 0] or [1.0]
    med = max(0.125, float(median(top)))
    lo, hi = STYLE_RATE.get(piece.style, (2.0, 6.0))
    rate = math.exp(rng.uniform(math.log(lo), math.log(hi)))
    qpm = 60.0 * rate * med
    m = piece.meters[0] if piece.meters else None
    beat = m.beat_ql if m else 1.0
    return float(np.clip(qpm / beat, 36.0, 220.0) * beat)


def _tile(notes: list[ScoreNote], length_ql: float, reps: int) -> list[ScoreNote]:
    return [ScoreNote(n.offset_ql + r * length_ql, n.dur_ql, n.pitch, n.voice, n.velocity)
            for r in range(reps) for n in notes]


def arrange(piece: Piece, n_clips: int, *, clip_s: float = 10.0, seed: int = 0,
            preroll_s: float = 1.0, max_clip_s: float | None = None) -> list[ClipPlan]:
    """Plan up to ``n_clips`` non-overlapping clips of ``clip_s`` seconds from ``piece``.

    With ``max_clip_s``, clips are as long as the piece played once (whole seconds), at least
    ``clip_s`` (a shorter piece is repeated) and at most ``max_clip_s`` (a longer one is cut):
    whole tracks rather than excerpts. Returns fewer plans when the piece is too short or
    windows are nearly empty (< 4 onsets).
    """
    rng = np.random.default_rng(stable_hash(seed, piece.source))
    players, inst_label, family, ensemble = _orchestrate(piece, rng)
    qpm = _choose_qpm(piece, rng)
    sec = 60.0 / qpm  # seconds per quarter note
    length_ql = piece.length_ql
    if length_ql <= 0:
        return []
    if max_clip_s is not None:
        clip_s = float(min(max(round(length_ql * sec), clip_s), max_clip_s))
    reps = max(1, math.ceil((clip_s + preroll_s) / (length_ql * sec)))
    notes = _tile(piece.notes, length_ql, reps)
    drums = _tile(piece.drums, length_ql, reps)
    total_s = length_ql * reps * sec
    transpose = 0
    if piece.transpose_ok and piece.instruments is None and rng.random() > 0.3:
        transpose = int(rng.choice([-5, -4, -3, -2, -1, 1, 2, 3, 4, 5, 6]))
    level = str(rng.choice(list(DYNAMICS), p=[0.25, 0.5, 0.25]))
    base_vel, level_db = DYNAMICS[level]
    room = _room(family, ensemble, rng)

    # Score → note events, per player: transposition that fits the instrument, then dynamics.
    events: list[Note] = []
    heard: list[tuple[float, float, int]] = []  # (onset_s, dur_s, pitch) for key estimation
    programs: dict[int, tuple[int, int]] = {}
    for pl in players:
        inst = INSTRUMENTS[pl.instrument]
        programs[pl.channel] = (0, inst.program)
        mine = [n for n in notes if n.voice in pl.voices]
        shift = transpose if piece.instruments is not None else best_transposition(
            [n.pitch for n in mine], inst, transpose)
        for n in mine:
            pitch = fit_to_range(n.pitch + shift, inst) if piece.instruments is None else n.pitch
            meter = piece.meter_at(n.offset_ql % length_ql)
            accent = 0
            if meter is not None:
                pos = (n.offset_ql % length_ql - meter.offset_ql) % meter.bar_ql
                accent = 8 if pos < 1e-6 else (4 if abs(pos / meter.beat_ql - round(
                    pos / meter.beat_ql)) < 1e-6 else 0)
            vel = n.velocity or base_vel + accent + int(rng.integers(-6, 7))
            if n.velocity:  # constructed velocities scale with the chosen dynamics
                vel = int(round(n.velocity * base_vel / 78))
            on, dur = n.offset_ql * sec, max(0.03, n.dur_ql * sec * 0.97)
            vel = int(np.clip(vel, inst.min_velocity, 127))
            events.append(Note(on, dur, pitch, vel, pl.channel))
            if pl is players[0] or ensemble == "solo" or len(set(pl.voices)) == 1:
                heard.append((on, dur, pitch))
    if drums:
        programs[DRUM_CHANNEL] = (128, DRUM_KITS[piece.drum_kit or "standard kit"])
        for n in drums:
            vel = int(np.clip(round(n.velocity * base_vel / 78) if n.velocity else base_vel, 1, 127))
            events.append(Note(n.offset_ql * sec, max(0.05, n.dur_ql * sec), n.pitch, vel,
                               DRUM_CHANNEL))
    events.sort(key=lambda e: (e.onset_s, e.channel, e.pitch))

    slots = int(total_s // clip_s)
    if slots <= 0:
        return []
    picks = [0, *sorted(int(x) for x in rng.permutation(np.arange(1, slots))[:max(0, n_clips - 1)])]
    plans = []
    onsets = np.array([e.onset_s for e in events])
    h = np.array(heard) if heard else np.zeros((0, 3))
    for k, slot in enumerate(picks[:n_clips]):
        t0 = slot * clip_s
        lo, hi = np.searchsorted(onsets, [t0 - preroll_s, t0 + clip_s])
        window = events[lo:hi]
        inside = onsets[(onsets >= t0) & (onsets < t0 + clip_s)]
        if len(np.unique(inside)) < 4:
            continue
        sel = (h[:, 0] < t0 + clip_s) & (h[:, 0] + h[:, 1] > t0) if len(h) else np.zeros(0, bool)
        est = estimate_key(h[sel, 2], np.minimum(h[sel, 0] + h[sel, 1], t0 + clip_s)
                           - np.maximum(h[sel, 0], t0)) if sel.any() else None
        labels = _labels(piece, t0, clip_s, qpm, transpose, est, len(np.unique(inside)) / clip_s,
                         reps)
        labels.update(instrument=inst_label, instrument_family=family,
                      instruments=list(dict.fromkeys(p.instrument for p in players))
                      + (["drum kit"] if drums else []),
                      ensemble=ensemble, dynamics=level, room_rt60_s=room[0])
        clip_id = f"{piece.collection}_{stable_hash(seed, piece.source):016x}_{k:02d}"
        plans.append(ClipPlan(clip_id, t0, tuple(window), programs,
                              (room[0], room[1], room[2] + k), level_db, labels, clip_s))
    return plans


def _labels(piece: Piece, t0: float, clip_s: float, qpm: float, transpose: int,
            est: tuple[int, str, float] | None, onset_rate: float, reps: int) -> dict[str, Any]:
    """Manifest label columns of one clip (see docs/data.md for their meaning)."""
    sec = 60.0 / qpm
    pos_ql = (t0 / sec) % piece.length_ql
    meter = piece.meter_at(pos_ql)
    beat = meter.beat_ql if meter else 1.0
    key_ok = piece.key is not None and (piece.key_scope == "work" or (t0 == 0.0 and pos_ql == 0.0))
    if key_ok:
        tonic, mode = (piece.key[0] + transpose) % 12, piece.key[1]
    elif est is not None:
        tonic, mode = est[0], est[1]
    else:
        tonic, mode = None, None
    return dict(
        collection=piece.collection, work_id=piece.work_id, source=piece.source,
        title=piece.title, composer=piece.composer, style=piece.style, rhythm=piece.rhythm,
        origin=piece.origin, offset_s=round(t0, 3),
        key=key_label(tonic, mode) if tonic is not None else None,
        tonic=None if tonic is None else int(tonic), mode=mode, key_exact=bool(key_ok),
        key_source=piece.key_source if key_ok else ("estimated: Krumhansl-Schmuckler"
                                                    if est else None),
        key_estimate=key_label(est[0], est[1]) if est else None,
        key_confidence=round(est[2], 3) if est else None,
        tempo_bpm=round(qpm / beat, 2), qpm=round(qpm, 2),
        meter=meter.ratio if meter else None, notes_per_s=round(onset_rate, 2),
        transpose=transpose, n_voices=piece.n_voices, repeats=reps,
        extra_tags=list(piece.tags))
