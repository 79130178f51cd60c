"""Works and metadata from the music21 corpus (real scores; about 15,000 works).

Collections: Essen folk songs, O'Neill's *Music of Ireland* and *Ryan's Mammoth Collection*
(ABC, with rhythm type and mode), Bach chorales, Palestrina masses, Monteverdi madrigals,
Trecento pieces, and Beethoven/Mozart/Haydn string quartets.

Key honesty: a key is taken from the source only where the encoding states tonic *and* mode
and was checked to be meaningful (ABC ``K:`` in O'Neill/Ryan, Humdrum ``*G:mix`` tandems in
Palestrina, MusicXML ``<mode>`` in the Bach chorales and quartets, which mix major and minor).
Essen's ``K:`` is only a key signature and the Monteverdi/Trecento encodings say "major" almost
everywhere, so their keys are left to estimation (flagged ``key_exact = False``).
"""

from __future__ import annotations

import itertools
import re
import warnings
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from lyrebird.core.fingerprint import stable_hash

from .keys import parse_abc_key, parse_humdrum_key
from .piece import Meter, Piece, ScoreNote, slug
from .work_titles import (
    bach_title,
    folk_composer,
    folk_title,
    humdrum_title,
    monteverdi_title,
    quartet_title,
    read_source_text,
    trecento_title_composer,
)


@dataclass(frozen=True)
class CollectionSpec:
    """One music21 corpus collection and how to read it."""

    name: str  # collection label in the manifest
    globs: tuple[str, ...]  # file patterns under the music21 corpus root
    style: str  # default style key (captions)
    composer: str  # default composer ("traditional" for folk)
    key_policy: str  # "abc" | "humdrum" | "musicxml" | "estimate"
    clips_per_item: int  # clips cut from one file / tune
    tags: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()  # substrings of paths to skip


COLLECTIONS: dict[str, CollectionSpec] = {c.name: c for c in [
    CollectionSpec("essen", ("essenFolksong/*.abc",), "folk song", "traditional", "estimate", 1,
                   ("folk",), ("/test",)),
    CollectionSpec("oneills", ("oneills1850/*.abc",), "tune", "traditional", "abc", 1,
                   ("folk", "irish")),
    CollectionSpec("ryans", ("ryansMammoth/*.abc",), "tune", "traditional", "abc", 1,
                   ("folk",)),
    CollectionSpec("bach_chorales", ("bach/bwv*.mxl", "bach/bwv*.xml"), "chorale",
                   "Johann Sebastian Bach", "musicxml", 1, ("classical", "baroque", "chorale")),
    CollectionSpec("palestrina", ("palestrina/*.krn",), "mass movement",
                   "Giovanni Pierluigi da Palestrina", "humdrum", 1,
                   ("classical", "renaissance", "mass", "polyphony")),
    CollectionSpec("monteverdi", ("monteverdi/*.mxl",), "madrigal", "Claudio Monteverdi",
                   "estimate", 3, ("classical", "renaissance", "madrigal")),
    CollectionSpec("trecento", ("trecento/*.xml", "trecento/*.mxl"), "medieval piece",
                   "anonymous", "estimate", 2, ("classical", "medieval")),
    CollectionSpec("quartets", ("beethoven/*.mxl", "beethoven/*/*.mxl", "mozart/*/*.mxl",
                                "haydn/*/*.mxl"), "quartet movement", "", "musicxml", 6,
                   ("classical", "string quartet")),
]}
"""The music21 collections the demo corpus draws from."""

QUARTET_COMPOSERS = {"beethoven": "Ludwig van Beethoven", "mozart": "Wolfgang Amadeus Mozart",
                     "haydn": "Joseph Haydn"}

_ORIGINS = {  # Essen/ABC origin words → English country or region name
    "deutschland": "Germany", "china": "China", "luxemburg": "Luxembourg",
    "lothringen": "Lorraine", "oesterreich": "Austria", "tirol": "Austria",
    "steiermark": "Austria", "schweiz": "Switzerland", "irland": "Ireland",
    "niederlande": "Netherlands", "rumaenien": "Romania", "polen": "Poland",
    "russland": "Russia", "ungarn": "Hungary", "italien": "Italy", "frankreich": "France",
    "schottland": "Scotland", "elsass": "Alsace", "scotch": "Scotland", "irish": "Ireland",
}
_RHYTHMS = {  # ABC R: field → rhythm label
    "reel": "reel", "jig": "jig", "double jig": "jig", "slip jig": "slip jig",
    "slipjig": "slip jig", "hornpipe": "hornpipe", "strathspey": "strathspey",
    "highland fling": "fling", "fling": "fling", "clog": "clog", "air": "air",
    "waltz": "waltz", "march": "march", "slide": "slide", "walkaround": "walkaround",
}


class SourceError(ValueError):
    """A work could not be read; the message says why (it is skipped and reported)."""


@lru_cache(maxsize=1)
def corpus_root() -> Path:
    """The music21 corpus directory (inside the installed music21 package)."""
    import music21

    return Path(music21.__file__).parent / "corpus"


@dataclass(frozen=True)
class WorkRef:
    """One readable item of a collection: a file, or one tune of an ABC file."""

    collection: str
    relpath: str  # relative to corpus_root()
    number: int | None  # ABC ``X:`` number inside the file
    group: str  # work identity known before parsing (title / mass / opus)

    @property
    def item_id(self) -> str:
        return f"{self.relpath}#{self.number}" if self.number is not None else self.relpath


def _abc_tunes(text: str) -> tuple[str, list[tuple[int, str]]]:
    """Split ABC text into (file header, [(X number, tune text)])."""
    chunks = re.split(r"(?m)^(?=X:)", text)
    header = chunks[0] if chunks and not chunks[0].startswith("X:") else ""
    tunes = []
    for ch in chunks:
        m = re.match(r"X:\s*(\d+)", ch)
        if m:
            tunes.append((int(m.group(1)), ch))
    return header, tunes


def _abc_field(tune: str, name: str) -> str | None:
    m = re.search(rf"(?m)^{name}:\s*(.*?)\s*$", tune)
    return m.group(1) if m else None


def catalogue(name: str) -> list[WorkRef]:
    """Every item of collection ``name``, found by scanning files as text (no parsing).

    Folk tunes are grouped by normalised title across all ABC collections (variants and the same
    tune printed twice become one work); Palestrina movements by mass; quartet movements by opus.
    """
    spec = COLLECTIONS[name]
    root = corpus_root()
    files = sorted({p for g in spec.globs for p in root.glob(g)})
    refs: list[WorkRef] = []
    for path in files:
        rel = path.relative_to(root).as_posix()
        if any(x in "/" + rel for x in spec.exclude):
            continue
        if path.suffix == ".abc":
            _, tunes = _abc_tunes(read_source_text(path))
            for num, tune in tunes:
                title = _abc_field(tune, "T") or ""
                group = "folk:" + (slug(title) or f"{rel}#{num}")
                refs.append(WorkRef(name, rel, num, group))
        elif name == "palestrina":
            m = re.search(r"(?m)^!!!OPR:\s*(.+)$", read_source_text(path))
            mass = slug(m.group(1)) if m else re.sub(r"_\d+$", "", path.stem).lower()
            refs.append(WorkRef(name, rel, None, f"palestrina:{mass}"))
        elif name == "quartets":
            parts = rel.split("/")
            opus = parts[1] if len(parts) > 2 else Path(parts[1]).stem
            refs.append(WorkRef(name, rel, None, f"quartet:{parts[0]}:{opus}"))
        else:
            refs.append(WorkRef(name, rel, None, f"{name}:{slug(path.stem)}"))
    return refs


def _parse(ref: WorkRef):
    """Parse ``ref`` with music21; returns (score, raw text or None)."""
    from music21 import converter

    path = corpus_root() / ref.relpath
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if ref.number is not None:
            header, tunes = _abc_tunes(read_source_text(path))
            tune = next((t for n, t in tunes if n == ref.number), None)
            if tune is None:
                raise SourceError(f"{ref.relpath}: no tune X:{ref.number}")
            return converter.parseData(header + tune, format="abc"), tune
        raw = read_source_text(path) if path.suffix == ".krn" else None
        return converter.parse(str(path), forceSource=True), raw


def _part_notes(part) -> list[ScoreNote]:
    """Pitched notes of one part with ties merged (O(n); music21's stripTies is slow)."""
    from music21 import harmony

    notes: list[ScoreNote] = []
    open_ties: dict[int, int] = {}  # MIDI pitch → index in notes of the note being tied
    for el in part.flatten().notes:
        if isinstance(el, harmony.Harmony) or el.duration.isGrace:
            continue
        ql = float(el.quarterLength)
        if ql <= 0:
            continue
        start = float(el.offset)
        for p in el.pitches:
            midi = int(p.midi)
            tie = el.tie.type if el.tie is not None else None
            if len(el.pitches) > 1 and hasattr(el, "getTie"):
                t = el.getTie(p)
                tie = t.type if t is not None else None
            i = open_ties.get(midi)
            if tie in ("stop", "continue") and i is not None:
                prev = notes[i]
                notes[i] = ScoreNote(prev.offset_ql, start + ql - prev.offset_ql, midi, 0)
                if tie == "stop":
                    del open_ties[midi]
                continue
            notes.append(ScoreNote(start, ql, midi, 0))
            if tie in ("start", "continue"):
                open_ties[midi] = len(notes) - 1
            else:
                open_ties.pop(midi, None)
    return notes


_EXPAND_MAX_NOTES = 1500  # longer scores are long enough without repeats (expansion is slow)


def _extract(score) -> tuple[list[ScoreNote], list[Meter], object]:
    """Notes (voices ordered top → bottom), meters and the top part of a parsed score."""
    from music21 import meter, repeat

    has_repeats = any(True for _ in score.recurse().getElementsByClass(repeat.RepeatMark))
    if has_repeats and sum(len(p.flatten().notes)
                           for p in (score.parts or [score])) <= _EXPAND_MAX_NOTES:
        try:
            score = score.expandRepeats()
        except Exception:
            pass
    parts = list(score.parts) or [score]
    voices = [v for v in (_part_notes(p) for p in parts) if v]
    if not voices:
        raise SourceError("no pitched notes")
    order = sorted(range(len(voices)), key=lambda i: -sum(n.pitch for n in voices[i])
                   / len(voices[i]))
    out = [ScoreNote(n.offset_ql, n.dur_ql, n.pitch, rank)
           for rank, i in enumerate(order) for n in voices[i]]
    top = parts[0]
    meters = []
    for ts in top.recurse().getElementsByClass(meter.TimeSignature):
        meters.append(Meter(float(ts.getOffsetInHierarchy(top)), ts.ratioString,
                            float(ts.beatDuration.quarterLength),
                            float(ts.barDuration.quarterLength)))
    return sorted(out, key=lambda n: (n.offset_ql, n.voice, n.pitch)), meters, top


def _melody_fingerprint(notes: list[ScoreNote], n: int = 12) -> str:
    """Transposition-invariant id of the top voice's opening (chorales sharing a tune match)."""
    pitches = [x.pitch for x in notes if x.voice == 0]
    dedup = [p for i, p in enumerate(pitches) if i == 0 or p != pitches[i - 1]][: n + 1]
    return "-".join(str(b - a) for a, b in itertools.pairwise(dedup))


def _origin(text: str | None) -> str | None:
    if not text:
        return None
    for word in re.split(r"[^A-Za-z]+", text.lower()):
        if word in _ORIGINS:
            return _ORIGINS[word]
    return None


def load_piece(ref: WorkRef) -> Piece:
    """Parse one work into a :class:`Piece` with its source metadata.

    Raises:
        SourceError: unreadable, empty or not the expected kind of score (reason in message).
    """
    spec = COLLECTIONS[ref.collection]
    try:
        score, raw = _parse(ref)
    except SourceError:
        raise
    except Exception as err:
        raise SourceError(f"music21 could not parse it ({type(err).__name__}: {err})") from err
    if type(score).__name__ == "Opus":
        score = score.scores[0] if score.scores else None
        if score is None:
            raise SourceError("empty opus")
    notes, meters, top = _extract(score)
    md = score.metadata
    names = [md.title, md.movementName] if md is not None else []
    title = next((t for t in names  # music21 falls back to the file name: not a title
                  if t and not re.search(r"\.(mxl|xml|krn|musicxml)$", t)), None)
    composer = spec.composer
    if composer in ("", "anonymous") and md is not None and md.composer:
        composer = md.composer
    piece = Piece(work_id=ref.group, collection=ref.collection,
                  source=f"music21:{ref.item_id}", style=spec.style, notes=notes, meters=meters,
                  title=title, composer=composer, tags=spec.tags)
    if raw is not None and ref.number is not None:  # ABC tune: fields straight from the source
        piece.title = folk_title(_abc_field(raw, "T")) or title
        piece.composer = folk_composer(_abc_field(raw, "C"), spec.composer)
        piece.origin = _origin(_abc_field(raw, "O")) or ("Ireland" if ref.collection == "oneills"
                                                          else None)
        rhythm = (_abc_field(raw, "R") or "").strip().lower().rstrip(".")
        if ref.collection != "essen":  # Essen's R: is a genre remark, not a dance type
            piece.rhythm = _RHYTHMS.get(rhythm)
            piece.style = piece.rhythm or "tune"
        if spec.key_policy == "abc":
            ks = re.findall(r"(?m)^K:\s*(.*?)\s*$", raw)
            key = parse_abc_key(ks[0]) if ks else None
            if key is not None:
                piece.key, piece.key_source = key, "abc K: field"
                piece.key_scope = "work" if len(ks) == 1 else "opening"
    elif spec.key_policy == "humdrum" and raw is not None:
        tokens = re.findall(r"(?m)^(\*[A-Ga-g][#-]*:[a-z]*)\b", raw)
        key = parse_humdrum_key(tokens[0]) if tokens else None
        if key is not None:
            piece.key, piece.key_source, piece.key_scope = key, "humdrum key tandem", "work"
    elif spec.key_policy == "musicxml":
        from music21 import key as m21key

        k = next(iter(top.recurse().getElementsByClass(m21key.Key)), None)
        if k is not None and k.mode in ("major", "minor"):
            piece.key = (k.tonic.pitchClass, k.mode)
            piece.key_source, piece.key_scope = "musicxml key mode", "opening"
    if ref.collection == "bach_chorales":
        if piece.n_voices < 3:
            raise SourceError(f"not a chorale ({piece.n_voices} voices)")
        piece.work_id = "chorale:" + format(stable_hash(_melody_fingerprint(notes)), "x")
        piece.title = bach_title(ref.relpath)
    elif ref.collection == "quartets":
        piece.composer = QUARTET_COMPOSERS.get(ref.relpath.split("/")[0], composer)
        piece.title = quartet_title(ref.relpath)
    elif ref.collection == "trecento":
        piece.title, piece.composer = trecento_title_composer(
            ref.relpath, md.composer if md is not None else None)
    elif ref.collection == "monteverdi":
        piece.title = monteverdi_title(corpus_root() / ref.relpath)
    elif ref.collection == "palestrina" and raw is not None:
        piece.title = humdrum_title(raw) or title
    return piece
