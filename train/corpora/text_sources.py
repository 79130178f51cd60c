"""The text that music files already carry: tags, sidecars, ``song.ini``, ``.music`` XML, names.

Every reader returns plain ``{label: value}`` dicts with values decoded without mojibake:
bytes are UTF-8 where they are valid UTF-8 and cp1252 (then Latin-1) otherwise, and text that
was double-encoded on its way into a file ("LaÃ\\x9f" for "Laß") is repaired. Label names are
``title``, ``artist``, ``album``, ``genre``, ``composer``, ``date``, ``licence_tag`` and ``bpm``.
:func:`tags_from_text` turns genre and title words into normalised tags.
"""

from __future__ import annotations

import configparser
import html
import os
import re
import unicodedata
import xml.etree.ElementTree as ET
from pathlib import Path

LABELS = ("title", "artist", "album", "genre", "composer", "date", "licence_tag", "bpm")
"""The labels read from files, sidecars and names."""

_KEY_ALIASES = {
    "title": "title", "track title": "title", "name": "title", "tit2": "title",
    "artist": "artist", "artist name": "artist", "band": "artist", "performer": "artist",
    "tpe1": "artist", "album": "album", "album title": "album", "talb": "album",
    "genre": "genre", "tcon": "genre", "composer": "composer", "tcom": "composer",
    "date": "date", "year": "date", "license": "licence_tag", "licence": "licence_tag",
    "bpm": "bpm", "tbpm": "bpm", "bpm (beats per minute)": "bpm", "tempo": "bpm",
}
_PLACEHOLDERS = {"", "non", "none", "(none)", "n/a", "na", "-", "unknown", "untitled",
                 "other", "no title", "noname", "default", "various", "?", "music", "misc"}
_PLACEHOLDER_TITLE = re.compile(r"(?i)^(\d+\s*[-.]?\s*)?(track|piste|titel|audio ?track)"
                                r"\s*\d*$")
_URL = re.compile(r"(?i)^\s*(https?://|www\.)\S*\s*$")
_MOJIBAKE = re.compile("[\u00c2-\u00f4][\u0080-\u00bf\u0152\u0153\u0160\u0161\u0178\u017d"
                       "\u017e\u0192\u02c6\u02dc\u2013\u2014\u2018-\u201e\u2020-\u2022\u2026"
                       "\u2030\u2039\u203a\u20ac\u2122]")


def decode_text(data: bytes) -> str:
    """Bytes to text: UTF-8 when valid, else cp1252, else Latin-1; BOMs and NULs removed."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    elif data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return clean_text(data.decode("utf-16", "replace"))
    for enc in ("utf-8", "cp1252", "latin-1"):
        try:
            return clean_text(data.decode(enc))
        except UnicodeDecodeError:
            continue
    return clean_text(data.decode("latin-1"))  # pragma: no cover - latin-1 always decodes


def fix_mojibake(text: str) -> str:
    """Undo UTF-8 text that was decoded as cp1252/Latin-1 ("LaÃŸ" → "Laß"); else unchanged."""
    if not _MOJIBAKE.search(text):
        return text
    for enc in ("cp1252", "latin-1"):
        try:
            fixed = text.encode(enc).decode("utf-8")
        except (UnicodeEncodeError, UnicodeDecodeError):
            continue
        return fixed
    return text


def clean_text(text: str) -> str:
    """Repair mojibake, drop control characters and collapse white space (NFC)."""
    text = fix_mojibake(text.replace("\x00", " "))
    text = "".join(" " if unicodedata.category(c) == "Cc" else c for c in text)
    return unicodedata.normalize("NFC", re.sub(r"\s+", " ", text)).strip()


def normalise_labels(raw: dict[str, list[str]]) -> dict[str, str]:
    """Map tag keys (any case, ID3 or Vorbis names) to :data:`LABELS`; first useful value wins.

    Placeholders ("none", "N/A", "Track 01", "other" …) and empty values are dropped.
    """
    out: dict[str, str] = {}
    for key, values in raw.items():
        label = _KEY_ALIASES.get(key.strip().lower())
        if label is None or label in out:
            continue
        for v in values:
            v = clean_text(str(v))
            if label in ("artist", "album", "composer", "title") and _URL.match(v):
                continue
            if label in ("artist", "composer"):  # "Name <https://…>", "Name (www.x.org)"
                v = re.sub(r"<[^>]*>|\(?\b(https?://|www\.)\S*\)?", " ", v).strip(" -,;")
                v = re.sub(r"\s+", " ", v)
            if label == "title" and _PLACEHOLDER_TITLE.match(v):
                continue
            if v and v.lower() not in _PLACEHOLDERS:
                out[label] = v
                break
    return out


def _ogg_comments(path: str | os.PathLike) -> dict[str, list[str]] | None:
    """Raw Vorbis/Opus comments of an Ogg file, each value decoded by :func:`decode_text`."""
    from mutagen.ogg import OggPage

    with open(path, "rb") as f:
        pages: list = []
        serial = None
        while True:
            try:
                page = OggPage(f)
            except Exception:
                return None
            if serial is None:
                serial = page.serial
            if page.serial != serial:
                continue
            pages.append(page)
            packets = OggPage.to_packets(pages, strict=False)
            if len(packets) >= 3 or (len(packets) == 2 and (pages[-1].complete
                                                            or len(pages[-1].packets) > 1)):
                break
            if len(pages) > 2000:
                return None
    if len(packets) < 2:
        return None
    head = packets[1]
    if head.startswith(b"\x03vorbis"):
        return parse_vorbis_comment(head[7:])
    if head.startswith(b"OpusTags"):
        return parse_vorbis_comment(head[8:])
    return None


def parse_vorbis_comment(data: bytes) -> dict[str, list[str]] | None:
    """A raw Vorbis comment block (vendor, count, ``KEY=value`` entries) → ``{key: [values]}``.

    Values go through :func:`decode_text`, so Latin-1 bytes are read as Latin-1; entries
    without ``=`` are skipped. None when the block is malformed.
    """
    import struct

    try:
        (n,) = struct.unpack_from("<I", data, 0)
        pos = 4 + n
        (count,) = struct.unpack_from("<I", data, pos)
        pos += 4
        out: dict[str, list[str]] = {}
        for _ in range(min(count, 10_000)):
            (n,) = struct.unpack_from("<I", data, pos)
            entry = data[pos + 4:pos + 4 + n]
            pos += 4 + n
            if len(entry) < n:
                return None
            if b"=" not in entry:
                continue
            key, value = entry.split(b"=", 1)
            out.setdefault(key.decode("ascii", "replace").lower(), []).append(
                decode_text(value))
        return out
    except struct.error:
        return None


def read_file_labels(path: str | os.PathLike) -> dict[str, str]:
    """Labels from the audio file's own tags (Vorbis/Opus comments, ID3, FLAC …).

    Ogg comments are parsed from their raw bytes so that non-UTF-8 values (Latin-1 written by
    old encoders) decode correctly instead of becoming U+FFFD.
    """
    with open(path, "rb") as fh:
        magic = fh.read(4)
    if magic == b"OggS":
        raw = _ogg_comments(path)
        if raw is not None:
            return normalise_labels(raw)
    import mutagen

    try:
        f = mutagen.File(str(path))
    except Exception:
        return {}
    if f is None or not getattr(f, "tags", None):
        return {}
    raw: dict[str, list[str]] = {}
    try:
        items = list(f.tags.items())
    except Exception:
        return {}
    for k, v in items:
        key = str(k).split(":")[0].lower()
        vals = getattr(v, "text", v)
        vals = vals if isinstance(vals, list) else [vals]
        raw.setdefault(key, []).extend(str(x) for x in vals)
    return normalise_labels(raw)


def read_key_value_sidecar(path: str | os.PathLike) -> dict[str, str]:
    """A ``key=value`` sidecar (e.g. blobwars' ``music/arctic.tags``) as labels."""
    raw: dict[str, list[str]] = {}
    for line in decode_raw_lines(Path(path).read_bytes()):
        if "=" in line:
            k, v = line.split("=", 1)
            raw.setdefault(k.strip().lower(), []).append(v)
    return normalise_labels(raw)


def decode_raw_lines(data: bytes) -> list[str]:
    """Lines of a text file, each decoded (UTF-8, else cp1252/Latin-1) and stripped."""
    whole = decode_text_keep_lines(data)
    return [ln.strip() for ln in whole.splitlines() if ln.strip()]


def decode_text_keep_lines(data: bytes) -> str:
    """Like :func:`decode_text` but keeps line breaks (for INI and key=value files)."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    for enc in ("utf-8", "cp1252", "latin-1"):
        try:
            text = data.decode(enc)
            break
        except UnicodeDecodeError:
            continue
    return "\n".join(fix_mojibake(ln) for ln in text.replace("\r", "\n").split("\n"))


def read_song_ini(path: str | os.PathLike) -> dict[str, str]:
    """Frets on Fire ``song.ini``: ``[song]`` ``name``, ``artist``, ``genre``, ``year``…"""
    cp = configparser.RawConfigParser(strict=False, interpolation=None)
    try:
        cp.read_string(decode_text_keep_lines(Path(path).read_bytes()))
    except configparser.Error:
        return {}
    if not cp.has_section("song"):
        return {}
    raw = {k: [v] for k, v in cp.items("song") if k != "scores"}
    out = normalise_labels(raw)
    artist = out.get("artist")
    if artist:  # "Composed and performed by Sectoid", "Muldjord - www.muldjord.com"
        artist = re.sub(r"(?i)^(composed|written|performed|and|by|\s)+", "", artist)
        artist = re.split(r"\s+-\s+|\s+\(?(?:https?://|www\.)", artist)[0].strip(" -")
        out["artist"] = artist or out["artist"]
    return out


def read_music_xml(path: str | os.PathLike) -> tuple[str | None, dict[str, str]]:
    """A SuperTuxKart ``.music`` file: (the audio file it names, its title/composer labels)."""
    data = Path(path).read_bytes()
    try:
        root = ET.fromstring(data)
        el = root if root.tag == "music" else root.find(".//music")
        attrib = dict(el.attrib) if el is not None else {}
    except ET.ParseError:  # e.g. an unescaped "<" in an attribute: read attributes leniently
        m = re.search(r"<music\b(.*?)/?>\s*$", decode_text_keep_lines(data), re.S)
        attrib = ({k: html.unescape(v) for k, v in re.findall(r'(\w+)\s*=\s*"([^"]*)"',
                                                              m.group(1))} if m else {})
    raw = {k: [v] for k, v in attrib.items() if k in ("title", "composer", "artist", "genre",
                                                      "album")}
    return attrib.get("file"), normalise_labels(raw)


_STEM_WORDS = re.compile(r"(?i)[_\-. ]*(looping|loop|final|master|mix|v\d+|ogg|raw)$")


def labels_from_name(path: str | os.PathLike) -> dict[str, str]:
    """Title (and artist for "Artist - Title" names) from a file name."""
    stem = Path(path).name
    stem = re.sub(r"(?i)\.(ogg|oga|opus|mp3|flac|wav|mod|xm|it|s3m)$", "", stem)
    out: dict[str, str] = {}
    parts = re.split(r"\s+-\s+|\.-\.|_-_(?=[A-Za-z])", stem, maxsplit=1)
    if len(parts) == 2 and not re.match(r"^\d+$", parts[0].strip()):
        artist = clean_text(parts[0].replace("_", " "))
        if artist and not artist.isdigit():
            out["artist"] = artist
        stem = parts[1]
    stem = re.sub(r"^\d{2,3}(?:[\s_.]*-[\s_.]*|[\s_.]+)", "", stem)  # leading track numbers
    for _ in range(2):
        stem = _STEM_WORDS.sub("", stem)
    title = clean_text(re.sub(r"[_]+|(?<=[a-z])-(?=[A-Za-z])", " ", stem))
    if title:
        out["title"] = title
    return out


_GENRE_TAGS: dict[str, tuple[str, ...]] = {
    "soundtrack": ("soundtrack",), "soundtrck": ("soundtrack",), "score": ("soundtrack",),
    "electronica": ("electronica", "electronic"), "electronic": ("electronic",),
    "electro": ("electro", "electronic"), "techno": ("techno", "electronic"),
    "trance": ("trance", "electronic"), "house": ("house", "electronic"),
    "drum and bass": ("drum and bass", "electronic"), "dnb": ("drum and bass", "electronic"),
    "dubstep": ("dubstep", "electronic"), "chiptune": ("chiptune", "electronic"),
    "8-bit": ("chiptune", "electronic"), "synthwave": ("synthwave", "electronic"),
    "metal": ("metal",), "death metal": ("death metal", "metal"),
    "heavy metal": ("heavy metal", "metal"),
    "female fronted metal": ("female fronted metal", "metal", "female vocals"),
    "rock": ("rock",), "hard rock": ("hard rock", "rock"), "punk": ("punk", "rock"),
    "pop": ("pop",), "jazz": ("jazz",), "blues": ("blues",), "funk": ("funk",),
    "classical": ("classical",), "classique": ("classical",), "klassik": ("classical",),
    "ambient": ("ambient",), "ambiance": ("ambient",), "ambience": ("ambient",),
    "orchestral": ("orchestral",), "cinematic": ("cinematic",), "epic": ("epic",),
    "folk": ("folk",), "celtic": ("celtic", "folk"), "medieval": ("medieval",),
    "hip hop": ("hip hop",), "hip-hop": ("hip hop",), "reggae": ("reggae",),
    "world": ("world",), "new age": ("new age",), "industrial": ("industrial",),
    "dance": ("dance",), "disco": ("disco", "dance"), "ragtime": ("ragtime",),
    "rag": ("ragtime",), "march": ("march",), "waltz": ("waltz",),
    "lounge": ("lounge",), "downtempo": ("downtempo", "electronic"),
    "game": ("soundtrack", "game music"), "game music": ("soundtrack", "game music"),
    "game soundtrack": ("soundtrack", "game music"), "vgm": ("soundtrack", "game music"),
    "video game music": ("soundtrack", "game music"), "psychedelic": ("psychedelic",),
    "thrash metal": ("thrash metal", "metal"), "trash metal": ("thrash metal", "metal"),
    "soundtracks": ("soundtrack",), "instrumental": ("instrumental",),
    "breakbeat": ("breakbeat", "electronic"), "jungle": ("jungle", "electronic"),
}
_TITLE_GENRES = {k: _GENRE_TAGS[k] for k in (
    "electronica", "techno", "trance", "dubstep", "chiptune", "8-bit", "synthwave", "metal",
    "death metal", "heavy metal", "blues", "jazz", "funk", "reggae", "waltz", "ragtime", "disco",
    "ambient", "orchestral", "breakbeat", "hip hop", "drum and bass", "classical", "punk")}
"""Genre words trusted in titles and albums (not "house", "world", "rock", "epic" …)."""
_NOT_MUSIC = {"sfx", "sound effect", "sound effects", "sound clip", "speech", "voice over"}
_INSTRUMENT_WORDS: dict[str, str] = {
    "piano": "piano", "guitar": "guitar", "violin": "violin", "viola": "viola",
    "cello": "cello", "flute": "flute", "flûte": "flute", "organ": "organ", "harp": "harp",
    "choir": "choir", "strings": "strings", "trumpet": "trumpet",
    "saxophone": "saxophone", "sax": "saxophone", "clarinet": "clarinet", "oboe": "oboe",
    "bassoon": "bassoon", "accordion": "accordion", "harpsichord": "harpsichord",
    "synth": "synth", "drums": "drums", "drum": "drums", "percussion": "percussion",
    "bass": "bass", "banjo": "banjo", "sitar": "sitar", "marimba": "marimba",
    "orchestra": "orchestra", "horn": "horn", "brass": "brass", "bells": "bells",
    "klavier": "piano", "gitarre": "guitar", "geige": "violin", "flöte": "flute",
}
_SAMPLE_INSTRUMENTS = _INSTRUMENT_WORDS | {"string": "strings", "kick": "drums", "snare": "drums",
                                           "hihat": "drums", "hi-hat": "drums"}


def is_not_music_genre(genre: str | None) -> bool:
    """True when a genre tag says the file is a sound effect or speech, not music."""
    return bool(genre) and genre.strip().lower() in _NOT_MUSIC


def _words_tags(text: str, vocab: dict[str, tuple[str, ...] | str]) -> set[str]:
    low = " " + re.sub(r"[_/;,|()\[\]]+", " ", text.lower()) + " "
    out: set[str] = set()
    for word, tags in vocab.items():
        plural = "" if word.endswith("s") else "s?"
        if re.search(r"(?<![^\W_])" + re.escape(word) + plural + r"\d*(?![^\W_])", low):
            out.update((tags,) if isinstance(tags, str) else tags)
    return out


def tags_from_text(genre: str | None = None, title: str | None = None,
                   album: str | None = None, sample_names: str | None = None
                   ) -> dict[str, str]:
    """Normalised tags (lower case) from a file's own text, each with where it came from.

    Genre values are split on ``/ ; ,`` and mapped to a vocabulary of genre words
    (``Electronica`` → ``electronica`` + ``electronic``, ``VGM`` → ``soundtrack`` +
    ``game music``; a value outside it, e.g. ``Widelands`` or ``Sound FX``, gives no tag); titles and albums add genre and instrument words they
    contain ("Divertissement pour flûte" → ``flute``); tracker sample names add instrument
    words. Returns ``{tag: source}`` (``genre`` / ``title`` / ``album`` / ``sample names``).
    """
    out: dict[str, str] = {}
    if genre and not is_not_music_genre(genre):
        for part in re.split(r"[/;,|]", genre):
            p = clean_text(part).lower()
            if not p or p in _PLACEHOLDERS:
                continue
            for t in _GENRE_TAGS.get(p, ()):  # only known genre words become tags
                out.setdefault(t, "genre")
            for t in _words_tags(p, _GENRE_TAGS):
                out.setdefault(t, "genre")
    for text, src in ((title, "title"), (album, "album")):
        if text:
            for t in _words_tags(text, {**_TITLE_GENRES, **_INSTRUMENT_WORDS}):
                out.setdefault(t, src)
    if sample_names:
        for t in _words_tags(sample_names, _SAMPLE_INSTRUMENTS):
            out.setdefault(t, "sample names")
    return dict(sorted(out.items()))


__all__ = ["LABELS", "clean_text", "decode_raw_lines", "decode_text", "decode_text_keep_lines",
           "fix_mojibake", "is_not_music_genre", "labels_from_name", "normalise_labels",
           "parse_vorbis_comment", "read_file_labels", "read_key_value_sidecar",
           "read_music_xml", "read_song_ini", "tags_from_text"]
