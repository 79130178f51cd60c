"""Licences from a Debian package's ``/usr/share/doc/<package>/copyright``.

Machine-readable (DEP-5) files: the ``License`` of the ``Files`` stanza whose pattern best
matches the track's path (the installed path, or the archive's path plus the member), else the
``Files: *`` stanza, else the header. DEP-5 patterns name paths in the *source* tree
(``data/audio/music/*``) while tracks are known by installed paths
(``/usr/share/games/marsshooter/audio/music/x.ogg``), so a pattern matches when its trailing
components match the path's trailing components; the stanza matching the most components wins
and, as in DEP-5, the later stanza wins a tie. Free-form files: the first ``License:`` line,
else a licence named in the text (GPL / LGPL / CC / Artistic / public domain …).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path

from .text_sources import decode_text_keep_lines


@dataclass(frozen=True)
class Stanza:
    """One paragraph of a DEP-5 file: its ``Files`` patterns (empty for the header)."""

    files: tuple[str, ...]
    licence: str | None


def parse_copyright(text: str) -> tuple[bool, list[Stanza]]:
    """(is DEP-5, stanzas). Continuation lines are joined; only Files and License are kept."""
    dep5 = bool(re.match(r"(?i)\s*format(-specification)?\s*:", text))
    stanzas: list[Stanza] = []
    for para in re.split(r"\n\s*\n", text):
        fields: dict[str, str] = {}
        key = None
        for line in para.split("\n"):
            m = re.match(r"^([A-Za-z][\w-]*)\s*:(.*)$", line)
            if m and not line.startswith((" ", "\t")):
                key = m.group(1).lower()
                fields[key] = m.group(2).strip()
            elif key and line.startswith((" ", "\t")):
                fields[key] += "\n" + line.strip()
        if "files" in fields or "license" in fields:
            lic = fields.get("license", "").split("\n")[0].strip() or None
            files = tuple(fields.get("files", "").split())
            stanzas.append(Stanza(files, lic))
    return dep5, stanzas


def _pattern_score(pattern: str, parts: list[str]) -> int:
    """How many trailing components of ``pattern`` match the end of ``parts`` (-1: none).

    ``*`` alone scores 0. A pattern only scores when its last component matches the file
    name (or is a wildcard matching the rest) and every kept component matches.
    """
    pat = [p for p in pattern.strip("/").split("/") if p not in ("", ".")]
    if not pat:
        return -1
    if pat == ["*"]:
        return 0
    best = -1
    for k in range(len(pat)):
        kept = pat[k:]
        if all(set(p) <= set("*?") for p in kept):
            continue
        q = "/".join(kept)
        for j in range(len(parts)):
            if fnmatchcase("/".join(parts[j:]), q):
                best = max(best, len(kept))
                break
        if best >= 0:
            break
    return best


_FREEFORM = (
    (r"creative commons attribution[- ]share ?alike[^\n]{0,30}?(\d\.\d)", "CC-BY-SA-{0}"),
    (r"cc[- ]by[- ]sa[- ]?(\d\.\d)", "CC-BY-SA-{0}"),
    (r"licenses/by-sa/(\d\.\d)", "CC-BY-SA-{0}"),
    (r"creative commons attribution[^\n]{0,30}?(\d\.\d)", "CC-BY-{0}"),
    (r"cc[- ]by[- ]?(\d\.\d)", "CC-BY-{0}"),
    (r"licenses/by/(\d\.\d)", "CC-BY-{0}"),
    (r"lesser general public license[^.]{0,80}?version (\d(?:\.\d)?)", "LGPL-{0}"),
    (r"library general public license[^.]{0,80}?version (\d(?:\.\d)?)", "LGPL-{0}"),
    (r"gnu general public license[^.]{0,80}?version (\d)", "GPL-{0}"),
    (r"gpl[- ]?v?(\d)", "GPL-{0}"),
    (r"gnu general public licen[sc]e", "GPL"),
    (r"artistic license", "Artistic"),
    (r"free art licen[sc]e", "Free-Art"),
    (r"cc0|public domain", "public-domain"),
    (r"permission is hereby granted, free of charge", "MIT"),
)


def _freeform_licence(text: str) -> str | None:
    m = re.search(r"(?im)^\s*licen[cs]e\s*:[ \t]*(\S.*)$", text)
    if m and len(m.group(1).strip()) <= 40 and len(m.group(1).split()) <= 4:
        return m.group(1).strip()
    low = re.sub(r"\s+", " ", text.lower())
    found = []  # the licence named first in the text wins (packaging notes come later)
    for order, (pat, name) in enumerate(_FREEFORM):
        m = re.search(pat, low)
        if m:
            found.append((m.start(), order, name.format(*m.groups())))
    if found:
        lic = min(found)[2]
        if lic.startswith(("GPL", "LGPL")) and re.search(
                r"or \(?at your option\)? any later version", low):
            lic += "+"
        return lic
    return None


class CopyrightFile:
    """A parsed ``copyright`` file; :meth:`licence_for` answers per track."""

    def __init__(self, text: str | None):
        self.text = text or ""
        self.dep5, self.stanzas = parse_copyright(self.text) if text else (False, [])

    @classmethod
    def read(cls, path: str | os.PathLike | None) -> CopyrightFile:
        """Read ``path`` (missing or unreadable: an empty file, whose licence is unknown)."""
        if path is None:
            return cls(None)
        try:
            return cls(decode_text_keep_lines(Path(path).read_bytes()))
        except OSError:
            return cls(None)

    def licence_for(self, package_path: str) -> tuple[str | None, str]:
        """(licence, where it comes from) for a path inside the package.

        ``package_path`` may name an archive member as ``archive.zip!member/path``.
        """
        if not self.text:
            return None, "no copyright file"
        if not self.dep5:
            lic = _freeform_licence(self.text)
            return lic, "copyright text" if lic else "copyright text (no licence named)"
        parts = [p for p in re.split(r"[/!]", package_path) if p]
        best: tuple[int, int, Stanza] | None = None
        for i, st in enumerate(self.stanzas):
            if not st.files or not st.licence:
                continue
            score = max((_pattern_score(p, parts) for p in st.files), default=-1)
            if score >= 0 and (best is None or (score, i) >= best[:2]):
                best = (score, i, st)
        if best is not None:
            st = best[2]
            pats = " ".join(st.files[:3]) + (" …" if len(st.files) > 3 else "")
            return st.licence, f"copyright Files: {pats}"
        for st in self.stanzas:
            if st.licence and not st.files:
                return st.licence, "copyright header"
        first = next((st.licence for st in self.stanzas if st.licence), None)
        return first, "copyright first licence"


__all__ = ["CopyrightFile", "Stanza", "parse_copyright"]
