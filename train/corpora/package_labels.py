"""Package-level genre and style labels of the real-recording corpus (issue #25), source
``package``.

A package's own prose about its music is read from three places:

* its Debian **description** (``dpkg-query -W -f='${Description}'`` for an installed package;
  ``DEBIAN/control`` in a folder laid out like one, as in the tests);
* its **copyright file** (``/usr/share/doc/<package>/copyright``): only the ``Comment``
  fields and the ``Copyright`` lines of the ``Files`` stanzas whose patterns name music
  (``music``, ``.ogg``, ``.mod`` …); never file lists (``classical_instruments.png``,
  ``celtic.ogg`` name one file, not the package) or licence texts ("musicians, dancers …");
* **in-package texts** that lie in the package's music folders (the spec's ``include``
  pattern, e.g. warzone2100's ``license.txt`` beside its tracks): ``README*``, ``CREDITS*``,
  ``*.txt``, ``*.nfo``, ``*.md`` under 64 KiB. Other game texts (level files, translations,
  name lists: "Rock Helm", "Piano Strike", "iso_rock_big.png") are never read.

Only the phrases of :data:`PACKAGE_GENRES` count, as whole words; they map to labels through
the corpus's one genre vocabulary (``text_sources._GENRE_TAGS``). Words that are true of every
package here (``soundtrack``, ``game music``, ``score``) or ambiguous in game prose
(``rock``, ``metal``, ``epic``, ``house``, ``classic`` …) are not in the table, so a label says
something the other packages' texts do not. Every track of the package gets the labels as
``tags`` whose source (``label_sources["tags"]``) is ``package``, unless its own text already
gave the tag; ``build.json`` keeps each label's evidence (``package_labels``).
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from .debian_packages import PackageSource, PackageSpec
from .text_sources import _GENRE_TAGS, decode_text_keep_lines

PACKAGE_GENRES: dict[str, tuple[str, ...]] = {k: _GENRE_TAGS[k] for k in (
    "death metal", "heavy metal", "thrash metal", "female fronted metal", "hard rock",
    "electronica", "techno", "trance", "drum and bass", "dubstep", "chiptune", "synthwave",
    "orchestral", "jazz", "blues", "funk", "reggae", "celtic", "medieval", "ambient",
    "classical", "hip hop", "breakbeat", "psychedelic", "industrial", "downtempo")}
"""Genre and style phrases trusted in package prose → their labels (the one vocabulary)."""
PACKAGE_GENRES |= {
    "metal music": ("metal",), "metal songs": ("metal",), "metal band": ("metal",),
    "rock music": ("rock",), "rock songs": ("rock",), "rock band": ("rock",),
    "electronic music": ("electronic",), "tracker music": ("electronic",),
    "orchestra": ("orchestral",), "symphonic": ("orchestral",), "piano": ("piano",),
    "folk music": ("folk",), "ambient music": ("ambient",)}

SOURCE = "package"
"""The label source recorded for these labels."""
TEXT_NAMES = re.compile(r"(?i)^(readme|credits|authors|about|info)|\.(txt|nfo|md)$")
MUSIC_STANZA = re.compile(r"(?i)music|\.(ogg|mp3|flac|wav|mod|xm|it|s3m)\b")
MAX_TEXT_BYTES = 64 * 1024


@dataclass
class PackageLabels:
    """A package's labels ``{label: source}`` and, per label, where its text says so."""

    package: str
    labels: dict[str, str] = field(default_factory=dict)
    evidence: dict[str, list[str]] = field(default_factory=dict)


def description(source: PackageSource) -> str:
    """The package's Debian description (short and long), or ``""``."""
    control = source.root / "DEBIAN" / "control"
    if control.is_file():
        text = decode_text_keep_lines(control.read_bytes())
        m = re.search(r"(?ms)^Description:(.*?)(?=^\S|\Z)", text)
        return m.group(1).strip() if m else ""
    if source.root != Path("/"):
        return ""
    try:
        res = subprocess.run(["dpkg-query", "-W", "-f=${Description}", source.name],
                             capture_output=True, text=True, timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return res.stdout if res.returncode == 0 else ""


def copyright_music_text(path: Path | None) -> str:
    """``Comment`` fields and music ``Files`` stanzas of a copyright file (no licence text)."""
    if path is None or not path.is_file():
        return ""
    text = decode_text_keep_lines(path.read_bytes())
    out = []
    for stanza in re.split(r"\n\s*\n", text):
        if re.match(r"(?i)\s*License:", stanza):
            continue  # a stand-alone licence text
        files = re.search(r"(?im)^Files:(.*(?:\n[ \t].*)*)", stanza)
        if files and MUSIC_STANZA.search(files.group(1)):  # its Copyright lines, not
            out += [c.group(1) for c in  # the file list (names are the track's own text)
                    re.finditer(r"(?im)^Copyright:(.*(?:\n[ \t].*)*)", stanza)]
        for c in re.finditer(r"(?im)^Comment:(.*(?:\n[ \t].*)*)", stanza):
            out.append(c.group(1))
    return "\n".join(out)


def music_folder_texts(spec: PackageSpec, source: PackageSource) -> dict[str, str]:
    """``{installed path: text}`` of the small text files in the package's music folders."""
    out: dict[str, str] = {}
    for f in source.files:  # archive patterns ("!member/") match no installed path
        ip = source.package_path(f)
        if not TEXT_NAMES.search(f.name) or ip.startswith("/usr/share/doc/"):
            continue
        folder = ip.rsplit("/", 1)[0] + "/"
        if not re.search(spec.include, folder) and not re.search(spec.include, ip):
            continue
        if spec.exclude and re.search(spec.exclude, ip):
            continue
        try:
            if f.stat().st_size <= MAX_TEXT_BYTES:
                out[ip] = decode_text_keep_lines(f.read_bytes())
        except OSError:
            continue
    return out


def find_labels(text: str, where: str, into: PackageLabels) -> None:
    """Add the labels of every :data:`PACKAGE_GENRES` phrase found in ``text`` (whole words,
    any case; a plural ``s`` allowed) to ``into``, with a snippet as evidence."""
    low = re.sub(r"\s+", " ", text.lower())
    for phrase, labels in PACKAGE_GENRES.items():
        for m in re.finditer(r"(?<![^\W_])" + re.escape(phrase) + r"s?(?![^\W_])", low):
            snippet = f"{where}: …{low[max(0, m.start() - 40):m.end() + 40].strip()}…"
            for lab in labels:
                into.labels.setdefault(lab, SOURCE)
                ev = into.evidence.setdefault(lab, [])
                if len(ev) < 3:
                    ev.append(snippet)
            break


def package_labels(spec: PackageSpec, source: PackageSource) -> PackageLabels:
    """The package-level labels of one package from its description, copyright file and the
    texts in its music folders (see the module docstring)."""
    out = PackageLabels(spec.name)
    find_labels(description(source), "description", out)
    find_labels(copyright_music_text(source.copyright), "copyright", out)
    for path, text in sorted(music_folder_texts(spec, source).items()):
        find_labels(text, path, out)
    out.labels = dict(sorted(out.labels.items()))
    return out


__all__ = ["PACKAGE_GENRES", "SOURCE", "PackageLabels", "copyright_music_text", "description",
           "find_labels", "music_folder_texts", "package_labels"]
