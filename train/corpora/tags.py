"""Multi-label tags from clip labels: the MTT top-50 vocabulary where a tag is true, plus more.

A tag is only emitted when the labels make it true: instrument tags from the GM programs that
play, tempo and loudness tags from the rendered tempo, note rate and dynamics, genre tags from
the collection or the construction. Mode tags ("major", "minor", "dorian" …) only for exact keys.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lyrebird.mulan.vocabulary import mtt_top50

from .instruments import INSTRUMENTS

_FAMILY_TAGS = {  # instrument family → tags (MTT ones first)
    "piano": ("piano",), "electric piano": ("electric piano",), "harpsichord": ("harpsichord",),
    "mallets": ("mallets",), "organ": ("organ",), "accordion": ("accordion",),
    "harmonica": ("harmonica",), "guitar": ("guitar", "acoustic guitar"),
    "electric guitar": ("guitar", "electric guitar"), "bass": ("bass",),
    "violin": ("violin", "strings"), "viola": ("strings", "viola"), "cello": ("cello", "strings"),
    "strings": ("strings",), "harp": ("harp",), "choir": ("choir", "choral"),
    "brass": ("brass",), "saxophone": ("saxophone", "woodwind"), "oboe": ("oboe", "woodwind"),
    "bassoon": ("bassoon", "woodwind"), "clarinet": ("clarinet", "woodwind"),
    "flute": ("flute", "woodwind"), "recorder": ("flute", "recorder", "woodwind"),
    "synth": ("synth",), "sitar": ("sitar",), "banjo": ("banjo",), "bagpipe": ("bagpipe",),
    "drums": ("drums",),
}
_NAME_TAGS = {"trumpet": "trumpet", "trombone": "trombone", "tuba": "tuba",
              "french horn": "horn", "church organ": "church organ", "fiddle": "fiddle",
              "contrabass": "double bass", "marimba": "marimba", "vibraphone": "vibraphone"}
_STYLE_TAGS = {
    "techno": ("techno", "electronic", "dance", "beat", "beats"),
    "house": ("electronic", "dance", "house", "beat", "beats"),
    "trance": ("electronic", "dance", "trance", "beat", "beats"),
    "electro": ("electronic", "dance", "electro", "beat", "beats"),
    "drum and bass": ("electronic", "dance", "drum and bass", "beat", "beats"),
    "synth-pop": ("electronic", "pop", "synth-pop", "beat", "beats"),
    "rock": ("rock",), "hard rock": ("rock", "hard rock"), "punk": ("rock", "punk"),
    "pop rock": ("rock", "pop"),
    "ambient": ("ambient",),
    "reel": ("reel", "dance tune"), "jig": ("jig", "dance tune"), "slip jig": ("slip jig", "dance tune"),
    "hornpipe": ("hornpipe", "dance tune"), "strathspey": ("strathspey", "dance tune"),
    "fling": ("fling", "dance tune"), "clog": ("clog", "dance tune"), "slide": ("slide", "dance tune"),
    "waltz": ("waltz", "dance tune"), "march": ("march",), "air": ("air",),
    "chorale": ("chorale",), "madrigal": ("madrigal",), "mass movement": ("mass",),
}
_GROOVE_STYLES = {"rock", "funk", "disco", "half-time", "breakbeat", "bossa nova", "reggae",
                  "shuffle", "swing"}


def tags_for(labels: Mapping[str, Any]) -> list[str]:
    """Sorted tags true of a clip, from its label columns (see docs/data.md).

    Uses ``instruments``, ``instrument_family``, ``ensemble``, ``collection``, ``style``,
    ``extra_tags``, ``tempo_bpm``, ``notes_per_s``, ``dynamics``, ``key_exact``, ``mode``,
    ``meter`` and ``n_voices``.
    """
    tags: set[str] = set(labels.get("extra_tags") or ())
    insts = list(labels.get("instruments") or ())
    for name in insts:
        if name == "drum kit":
            tags.update(_FAMILY_TAGS["drums"])
            continue
        inst = INSTRUMENTS.get(name)
        if inst is None:
            continue
        tags.update(_FAMILY_TAGS.get(inst.family, ()))
        if name in _NAME_TAGS:
            tags.add(_NAME_TAGS[name])
    vocal = any(INSTRUMENTS[n].family == "choir" for n in insts if n in INSTRUMENTS)
    if not vocal:
        tags.update(("no vocals", "no vocal", "no voice", "instrumental"))
    if labels.get("ensemble") == "solo" and len(insts) == 1:
        tags.add("solo")
    elif labels.get("ensemble") == "ensemble":
        tags.add("ensemble")
    if "classical" in tags:
        tags.add("classic")
    style = labels.get("style")
    tags.update(_STYLE_TAGS.get(style, ()))
    if labels.get("collection") == "drum_grooves" and style in _GROOVE_STYLES:
        tags.update(("beat", "beats", f"{style} groove"))
        if style == "rock":
            tags.add("rock")
    bpm, rate = labels.get("tempo_bpm"), labels.get("notes_per_s")
    if bpm is not None and rate is not None:
        if rate >= 6.0 or bpm >= 150:
            tags.add("fast")
        elif rate <= 2.5 and bpm <= 80:
            tags.add("slow")
    dyn = labels.get("dynamics")
    if dyn == "loud":
        tags.add("loud")
    elif dyn == "soft":
        tags.update(("quiet", "soft"))
    if labels.get("key_exact") and labels.get("mode"):
        tags.add(str(labels["mode"]))
    nv = labels.get("n_voices")
    if nv == 1 and labels.get("collection") != "drum_grooves":
        tags.add("monophonic" if len(insts) == 1 else "unison")
    elif nv and nv >= 2 and labels.get("collection") in (
            "bach_chorales", "palestrina", "monteverdi", "trecento", "quartets"):
        tags.add("polyphonic")
    meter = labels.get("meter")
    if meter:
        num = int(str(meter).split("/")[0]) if str(meter).split("/")[0].isdigit() else 0
        if num in (6, 9, 12):
            tags.add("compound meter")
        elif num in (3,):
            tags.add("triple meter")
        elif num in (2, 4):
            tags.add("duple meter")
    return sorted(tags)


def mtt_subset(tags: list[str]) -> list[str]:
    """The tags of ``tags`` that belong to the MTT top-50 vocabulary, in MTT order."""
    have = set(tags)
    return [t for t in mtt_top50() if t in have]
