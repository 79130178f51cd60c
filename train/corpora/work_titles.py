"""Real titles and composers of the music21 works, and their source texts decoded correctly.

The score encodings state titles unevenly: Essen and ABC tunes carry a ``T:`` field, Humdrum
files ``!!!OPR``/``!!!OMD``/``!!!OTL``, Monteverdi a sibling RomanText file with ``Title:``;
Bach chorales carry none (music21's chorale lists give them by BWV number), and Trecento and
quartet files are named after the work. Each function here reads the one place that states the
fact, and says nothing where the source says nothing.

Text decoding: the corpus files are UTF-8, but some Essen files (``lot``, ``lux``, ``han*``)
went through DOS code page 437 read as Latin-1 before being saved as UTF-8: ``ü`` is stored as
U+0081, ``ä`` as U+0084 and ``ß`` as ``á``. :func:`read_source_text` decodes UTF-8 and undoes
that round trip in files that hold such C1 control characters (no real title contains them).
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

_C1 = re.compile("[\x80-\x9f]")


def repair_text(text: str) -> str:
    """Undo CP437-read-as-Latin-1 in ``text`` when it holds C1 controls; otherwise as is."""
    if not _C1.search(text):
        return text
    return "".join(bytes([ord(c)]).decode("cp437") if 0x80 <= ord(c) <= 0xFF else c
                   for c in text)


def read_source_text(path: str | Path) -> str:
    """A score file's text: UTF-8 (Latin-1 where it is not valid UTF-8), repaired."""
    data = Path(path).read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = data.decode("latin-1")
    return repair_text(text)


_PAGE_REF = re.compile(r"\s*,?\s*(\((?:Band\s*\d+|\d[\w-]*)\))?\s*,?\s*S\.\s*\w+\s*,?\s*$")


_SMALL = {"a", "an", "and", "at", "by", "de", "der", "die", "das", "for", "in", "of", "on",
          "or", "the", "to", "und", "von"}


def _uncap(text: str) -> str:
    """ALL-CAPS text in title case (small words lower case); other text unchanged."""
    if not text.isupper():
        return text
    words = text.lower().split(" ")
    return " ".join(w if i and w in _SMALL else w[:1].upper() + w[1:]
                    for i, w in enumerate(words))


def folk_title(t_field: str | None) -> str | None:
    """An ABC ``T:`` field as a title: without the Essen page reference (``"… (5-46), S. 77"``),
    Ryan's dance type (``"… -- Reel"``, kept as the rhythm label), a final full stop or an
    inverted article (``"Hills of Ireland, The"``), in title case if it was all capitals."""
    if not t_field:
        return None
    t = _PAGE_REF.sub("", t_field).strip().strip('"').strip()
    t = re.sub(r"\s+--\s+[A-Za-z .]+$", "", t).strip().rstrip(".").strip()
    m = re.match(r"(.+?)[.,]\s*(The|A|An)$", t)
    if m:
        t = f"{m.group(2)} {m.group(1)}"
    return _uncap(t) or None


def folk_composer(c_field: str | None, default: str) -> str:
    """An ABC ``C:`` field as a name (``"T. DENSMORE."`` → ``"T. Densmore"``); a collector's
    note (``"collected by …"``) is not a composer, so the tune stays ``default``."""
    c = (c_field or "").strip().strip('"').strip().rstrip(".").strip()
    if not c or c.lower().startswith(("collected", "arr", "trad", "from ")):
        return default
    return _uncap(c)


@lru_cache(maxsize=1)
def _chorale_titles() -> dict[str, str]:
    from music21.corpus import chorales

    out: dict[str, str] = {}
    for lst in (chorales.ChoraleList().byBWV, chorales.ChoraleListRKBWV().byBWV):
        for bwv, info in lst.items():
            if info.get("title"):
                out.setdefault(str(bwv), str(info["title"]).replace("’", "'"))
    return out


def bach_title(relpath: str) -> str:
    """``bach/bwv269.mxl`` → ``"Aus meines Herzens Grunde (BWV 269)"``; the catalogue number
    alone (``"Chorale BWV 1.6"``) where music21's chorale lists have no title."""
    m = re.match(r"bwv([\d.]+?)(?:-[\w]+)?\.(?:mxl|xml)$", Path(relpath).name)
    if m is None:
        return f"Chorale {Path(relpath).stem}"
    bwv = m.group(1)
    title = _chorale_titles().get(bwv)
    return f"{title} (BWV {bwv})" if title else f"Chorale BWV {bwv}"


def monteverdi_title(path: Path) -> str:
    """The ``Title:`` of the madrigal's RomanText sibling, with its book and number."""
    m = re.match(r"madrigal\.(\d+)\.(\d+)", path.name)
    where = f"Madrigal {m.group(1)}.{m.group(2)}" if m else path.stem
    rn = path.with_suffix(".rntxt")
    if rn.is_file():
        t = re.search(r"(?m)^Title:\s*(.+?)\s*$", read_source_text(rn))
        if t:
            return f"{t.group(1)} ({where})"
    return where


def humdrum_title(raw: str) -> str | None:
    """Palestrina: ``"Missa Memor esto: Benedictus (Hosanna)"`` from OPR, OMD and OTL."""
    def field(name: str) -> str | None:
        m = re.search(rf"(?m)^!!!{name}:\s*(.+?)\s*$", raw)
        return m.group(1) if m else None

    mass, mvt, section = field("OPR"), field("OMD"), field("OTL")
    head = ": ".join(x for x in (mass, mvt) if x)
    if section and section != mvt:
        head = f"{head} ({section})" if head else section
    return head or None


def quartet_title(relpath: str) -> str:
    """``beethoven/opus59no1/movement3.mxl`` → ``"String Quartet Op. 59 No. 1, movement 3"``."""
    parts = relpath.split("/")
    work = parts[1] if len(parts) > 2 else Path(parts[1]).stem
    m = re.match(r"opus(\d+)(?:no(\d+))?$", work)
    if m:
        name = f"Op. {m.group(1)}" + (f" No. {m.group(2)}" if m.group(2) else "")
    elif re.match(r"k\d+$", work):
        name = f"K. {work[1:]}"
    else:
        name = work
    title = f"String Quartet {name}"
    if len(parts) > 2:
        mv = re.match(r"movement(\d+)", Path(parts[2]).stem)
        title += f", movement {mv.group(1)}" if mv else f", {Path(parts[2]).stem}"
    return title


_TRECENTO_NAMES = {"Jacopo": "Jacopo da Bologna", "Giovanni": "Giovanni da Cascia",
                   "Piero": "Magister Piero"}
_ELISION = re.compile(r"\b(l|d|s|n|all|dell|nell|sull|ch|un)_(?=[aeiouh])", re.I)


def trecento_title_composer(relpath: str, md_composer: str | None) -> tuple[str, str | None]:
    """Title from the file name (the encodings' title fields are often copied from another
    piece), composer from the encoding's composer field, or from the PMFC volume 6 file names
    (Jacopo, Giovanni, Piero); ``None`` (anonymous) otherwise."""
    stem = Path(relpath).stem
    composer = None
    m = re.match(r"PMFC_\d+[_-](Jacopo|Giovanni|Piero)[_-]", stem)
    if m:
        composer = _TRECENTO_NAMES[m.group(1)]
    t = re.sub(r"^(Fava_|PMFC_\d+[_-]((Jacopo|Giovanni|Piero)[_-])?)", "", stem)
    t = re.sub(r"^\d+[a-z]?[-_]", "", t)
    t = re.sub(r"\s*PMFC\s*\d+\.\d+\w*", "", t)
    t = _ELISION.sub(lambda x: x.group(1) + "'", t)
    t = re.sub(r"\s+", " ", t.replace("_", " ").replace("-", " – ")).strip(" –")
    if md_composer:
        c = re.sub(r"\s*\(.*?\)\s*$", "", md_composer).strip()
        c = re.split(r"\s+(?=\S*(?:\d|[A-Z]-))", c)[0].strip()  # drop a source siglum
        if c and not c.lower().startswith("anonym"):
            composer = c
    return t[:1].upper() + t[1:], composer
