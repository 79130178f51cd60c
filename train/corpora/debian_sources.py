"""Find the tracks of one package and the text that comes with each (scan only, no decoding).

Audio is recognised by content, not by extension (blobwars ships Ogg files without one).
Kinds of track:

* ``file`` — an audio file (Ogg/Opus, FLAC, WAV, MP3), linked into the corpus;
* ``member`` — audio inside a zip archive (``.pk3``/``.zip``; nexuiz ``music.pk3``,
  0 A.D. ``public.zip``), extracted;
* ``module`` — a tracker module (.mod/.xm/.it/.s3m), rendered by openmpt123;
* ``mix`` — a Frets on Fire song folder: ``song.ogg`` plus its stems (``guitar.ogg``,
  ``rhythm.ogg`` …) summed into the full mix. Stems are never tracks of their own.

Text found beside a track: a ``<file>.tags`` sidecar (``key=value``), the folder's
``song.ini``, a ``.music`` XML file naming the track (SuperTuxKart; such a file also makes
the track music whatever its folder), and the file name.
"""

from __future__ import annotations

import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from lyrebird.core.fingerprint import stable_hash
from lyrebird.core.metadata import split_credit

from .debian_packages import PackageSource, PackageSpec
from .module_render import MODULE_EXTENSIONS, module_text, sniff_file
from .text_sources import (
    labels_from_name,
    read_file_labels,
    read_key_value_sidecar,
    read_music_xml,
    read_song_ini,
)

AUDIO_KINDS = ("ogg", "flac", "wav", "mp3")
MODULE_KINDS = ("mod", "xm", "it", "s3m")
STEM_NAMES = ("guitar", "rhythm", "bass", "drums", "vocals", "keys", "crowd", "preview")
"""Frets on Fire stems (``<name>.ogg`` next to ``song.ogg`` and ``song.ini``)."""
_ARCHIVE_AUDIO = (".ogg", ".oga", ".opus", ".flac", ".wav", ".mp3")
_SKIP_SUFFIXES = (".png", ".jpg", ".jpeg", ".svg", ".xpm", ".bmp", ".gif", ".tga", ".dds",
                  ".txt", ".xml", ".json", ".lua", ".py", ".pyc", ".gz", ".html", ".ttf",
                  ".otf", ".mo", ".po", ".desktop", ".ini", ".tags", ".music", ".meta",
                  ".mid", ".m3u", ".md", ".cfg", ".conf", ".js", ".dae", ".b3d", ".spm",
                  ".ktx", ".glsl", ".dat", ".map", ".sh", ".so", ".pk3", ".zip")


@dataclass
class SourceItem:
    """One track to materialise: where its audio is and the text found beside it."""

    package: str
    package_path: str  # installed path, or "<archive path>!<member>"
    kind: str  # file | member | module | mix
    origin: str  # absolute path of the file (or archive) on this machine
    fmt: str  # ogg | flac | wav | mp3 | mod | xm | it | s3m
    member: str | None = None
    stems: list[str] = field(default_factory=list)  # absolute paths (kind "mix")
    labels: dict[str, str] = field(default_factory=dict)  # label → value (beside-file text)
    sources: dict[str, str] = field(default_factory=dict)  # label → source name

    @property
    def item_id(self) -> str:
        """Stable id of the track (package and path)."""
        return f"{stable_hash(self.package, self.package_path):016x}"

    def out_name(self) -> str:
        """Path of its audio under ``OUT/audio/<package>/``."""
        rel = self.package_path.lstrip("/").replace("!", "/")
        if self.kind in ("module", "mix"):
            return rel + ".flac"
        suffix = Path(rel).suffix.lower()
        ext = {"ogg": (".ogg", ".oga", ".opus"), "flac": (".flac",), "wav": (".wav",),
               "mp3": (".mp3",)}[self.fmt]
        return rel if suffix in ext else rel + "." + self.fmt

    def add(self, labels: dict[str, str], source: str) -> None:
        """Add labels from ``source`` where this item has none yet."""
        for k, v in labels.items():
            if v and k not in self.labels:
                self.labels[k] = v
                self.sources[k] = source


@dataclass
class ScanResult:
    """Tracks found in a package, stems left out, and what could not be read."""

    items: list[SourceItem] = field(default_factory=list)
    stems: list[str] = field(default_factory=list)
    skipped: list[dict[str, str]] = field(default_factory=list)


def _music_xml_index(files: list[Path]) -> dict[Path, tuple[Path, dict[str, str]]]:
    """Audio path → (the .music file, its labels) for every SuperTuxKart ``.music`` file."""
    out: dict[Path, tuple[Path, dict[str, str]]] = {}
    for f in files:
        if f.suffix == ".music":
            target, labels = read_music_xml(f)
            if target:
                out[f.parent / target] = (f, labels)
    return out


def scan_package(src: PackageSource, spec: PackageSpec) -> ScanResult:
    """Every music track of ``src`` per ``spec``, with the text found beside it (sorted)."""
    include = re.compile(spec.include)
    exclude = re.compile(spec.exclude) if spec.exclude else None
    res = ScanResult()
    music_xml = _music_xml_index(src.files)
    song_dirs = {f.parent for f in src.files if f.name.lower() == "song.ini"}

    def wanted(path: str) -> bool:
        return bool(include.search(path)) and not (exclude and exclude.search(path))

    for f in src.files:
        ppath = src.package_path(f)
        low = f.name.lower()
        if low.endswith((".pk3", ".zip")):  # the member path decides what is music
            _scan_archive(src, f, ppath, include, exclude, res)
            continue
        if f.suffix.lower() in _SKIP_SUFFIXES:
            continue
        xml = music_xml.get(f)
        if not (wanted(ppath) or xml):
            continue
        fmt = sniff_file(f)
        if fmt is None:
            continue
        if fmt not in AUDIO_KINDS + MODULE_KINDS:
            continue
        if f.parent in song_dirs and f.stem.lower() in STEM_NAMES:
            res.stems.append(ppath)
            continue
        if f.parent in song_dirs and f.stem.lower() == "song":
            stems = sorted(str(s) for s in f.parent.iterdir()
                           if s.stem.lower() in STEM_NAMES and s.suffix.lower() == ".ogg"
                           and s.stem.lower() != "preview")
            item = SourceItem(src.name, ppath, "mix" if stems else "file", str(f), fmt,
                              stems=stems)
            item.add(read_song_ini(f.parent / "song.ini"), "song.ini")
        else:
            kind = "module" if fmt in MODULE_KINDS else "file"
            item = SourceItem(src.name, ppath, kind, str(f), fmt)
        sidecar = f.with_name(f.name + ".tags")
        if sidecar.is_file():
            item.add(read_key_value_sidecar(sidecar), "sidecar")
        if xml:
            item.add(xml[1], "music xml")
        res.items.append(item)
    return res


def _scan_archive(src: PackageSource, f: Path, ppath: str,
                  include: re.Pattern, exclude: re.Pattern | None, res: ScanResult) -> None:
    try:
        with zipfile.ZipFile(f) as z:
            infos = z.infolist()
    except (zipfile.BadZipFile, OSError) as err:
        res.skipped.append({"package": src.name, "package_path": ppath,
                            "reason": f"unreadable archive ({type(err).__name__}: {err})"})
        return
    for info in sorted(infos, key=lambda i: i.filename):
        name = info.filename
        if info.is_dir():
            continue
        member_path = f"{ppath}!{name}"
        if not include.search(member_path) or (exclude and exclude.search(member_path)):
            continue
        low = name.lower()
        if low.endswith(MODULE_EXTENSIONS):
            res.skipped.append({"package": src.name, "package_path": member_path,
                                "reason": "module inside an archive (not supported)"})
            continue
        if not low.endswith(_ARCHIVE_AUDIO):
            continue
        fmt = {".oga": "ogg", ".opus": "ogg"}.get(Path(low).suffix, Path(low).suffix[1:])
        res.items.append(SourceItem(src.name, member_path, "member", str(f), fmt,
                                    member=name))


def file_text(item: SourceItem, audio: str | Path) -> tuple[dict[str, str], dict[str, str]]:
    """The text inside the track's own file: (labels, module fields).

    Tags of the audio (of ``song.ogg`` for a mix); for a module its title (as ``title``, and a
    credit in it as ``artist``: ``"Gargl by |Mordred|"``, :func:`split_credit`) and
    ``module_text`` / ``module_names`` / ``module_message``. Unreadable text gives nothing.
    """
    if item.kind == "module":
        try:
            text = module_text(Path(item.origin).read_bytes(), item.fmt)
        except (OSError, ValueError):
            return {}, {}
        title, artist = split_credit(text.title)  # "Gargl by |Mordred|"
        labels = {k: v for k, v in (("title", title), ("artist", artist)) if v}
        return labels, {
            "module_text": text.joined() or None, "module_names": " / ".join(text.names),
            "module_message": text.message}
    try:
        return read_file_labels(item.origin if item.kind == "mix" else audio), {}
    except OSError:
        return {}, {}


def name_labels(item: SourceItem) -> dict[str, str]:
    """Labels from the track's file name (``Artist - Title.ogg`` → artist and title)."""
    name = item.member or Path(item.origin).name
    if item.kind == "mix":
        name = Path(item.origin).parent.name
    return labels_from_name(name)


__all__ = ["AUDIO_KINDS", "MODULE_KINDS", "STEM_NAMES", "ScanResult", "SourceItem",
           "file_text", "name_labels", "scan_package"]
