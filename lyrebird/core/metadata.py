"""Titles and artists as people read them, from the text that files and packages carry.

Three repairs, each small and conservative (text that does not match is left as it is):

* :func:`split_credit` — a credit inside a title, as tracker modules and game soundtracks write
  them: ``"Gargl by |Mordred|"`` → ``("Gargl", "Mordred")``. Only delimited forms count (the
  artist between ``|…|``, ``[…]``, ``(…)`` or ``<…>``, or after ``" - by "`` / ``"(by "``),
  so a title such as "Stand by Me" keeps its "by".
* :func:`readable_title` — a title made from a file name: ``"biniax common00"`` → ``"Biniax
  Common 00"``, ``"back_1"`` → ``"Back 1"``. Only all-lowercase text is title-cased, so
  "DJ Foo" or "iPod" stay as written.
* :func:`unify_names` — one spelling per person within one collection (a library or a
  package): names with the same :func:`name_key` (case and accents ignored: "Àlex" = "Alex")
  or a name that is the leading words of exactly one longer name ("Alex" of "Alex Almarza")
  map to the most complete spelling.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Iterable

__all__ = ["looks_like_file_name", "name_key", "readable_title", "split_credit", "tidy_labels",
           "unify_names"]

_CREDIT = re.compile(
    r"""^(?P<title>.*?\S)\s*
        (?:[-–—:/]\s*|\(\s*|\[\s*)?          # "Title - by X", "Title (by X)"
        \bby\s*
        (?:\|\s*(?P<a1>[^|]+?)\s*\|?         # |Artist| (closing bar optional: cut titles)
          |\[\s*(?P<a2>[^\]]+?)\s*\]
          |<\s*(?P<a3>[^>]+?)\s*>
          |\(\s*(?P<a4>[^)]+?)\s*\)
        )\s*[)\]]?\s*$""", re.IGNORECASE | re.VERBOSE)
_CREDIT_PLAIN = re.compile(r"^(?P<title>.*?\S)\s*(?:\s[-–—]\s*|\(\s*)by\s+(?P<a>[^()]+?)\s*\)?\s*$",
                           re.IGNORECASE)


def split_credit(title: str | None) -> tuple[str | None, str | None]:
    """``(title, artist)`` from a title that carries its credit (``"Gargl by |Mordred|"``);
    ``(title, None)`` unchanged when it carries none."""
    if not title or not title.strip():
        return title, None
    text = title.strip()
    m = _CREDIT.match(text)
    if m:
        artist = next(a for a in m.group("a1", "a2", "a3", "a4") if a)
        return m.group("title").strip(" -–—:/([|"), artist.strip()
    m = _CREDIT_PLAIN.match(text)
    if m:
        return m.group("title").strip(" -–—:/(["), m.group("a").strip()
    return text, None


_GLUE = re.compile(r"(?<=[^\W\d_])(?=\d)|(?<=\d)(?=[^\W\d_])")


def looks_like_file_name(title: str) -> bool:
    """Whether ``title`` reads like a file name rather than a title: no capital letter, and
    underscores, or letters and digits run together (``"common00"``, ``"back_1"``)."""
    t = title.strip()
    return bool(t) and t == t.lower() and ("_" in t or bool(_GLUE.search(t)))


def readable_title(text: str) -> str:
    """A file-name-like title made readable: underscores and dots to spaces, letters and digits
    apart, and (all-lowercase text only) each word capitalised: ``"biniax common00"`` →
    ``"Biniax Common 00"``."""
    t = re.sub(r"[_.]+", " ", text.strip())
    t = re.sub(r"(?<=[a-z])-(?=[a-z])", " ", t) if t == t.lower() else t
    t = _GLUE.sub(" ", t)
    t = re.sub(r"\s+", " ", t).strip()
    if t == t.lower():
        t = " ".join(w[:1].upper() + w[1:] for w in t.split(" "))
    return t


def name_key(name: str) -> str:
    """A name with case, accents, punctuation and spacing ignored (``"Àlex"`` → ``"alex"``)."""
    plain = "".join(c for c in unicodedata.normalize("NFKD", name)
                    if not unicodedata.combining(c))
    return " ".join(re.findall(r"\w+", plain.casefold()))


def unify_names(names: Iterable[str | None]) -> dict[str, str]:
    """``{spelling: the one to show}`` for the names of one collection (a library, a package).

    Spellings with the same :func:`name_key` are one person; so is a name whose key is the
    leading words of exactly one longer name's key ("Àlex" and "Alex Almarza"). The spelling
    shown is the longest; among equals the one with more accented letters, then the most used.
    Every given name is a key of the result (mapped to itself when it has no variant).
    """
    count = Counter(n.strip() for n in names if n and n.strip())
    keys = {n: name_key(n) for n in count}
    by_key: dict[str, list[str]] = {}
    for n, k in keys.items():
        by_key.setdefault(k, []).append(n)
    parent = {k: k for k in by_key if k}
    for k in parent:
        longer = [o for o in parent if o.startswith(k + " ")]
        first = min(longer, key=len) if longer else None
        if first and all(o == first or o.startswith(first + " ") for o in longer):
            parent[k] = first  # one chain of longer names ("alex" → "alex almarza")

    def root(k: str) -> str:
        while parent[k] != k:
            k = parent[k]
        return k

    groups: dict[str, list[str]] = {}
    for n, k in keys.items():
        groups.setdefault(root(k) if k else n, []).append(n)
    out: dict[str, str] = {}
    for members in groups.values():
        best = max(members, key=lambda n: (len(name_key(n)), sum(c > "\x7f" for c in n),
                                           count[n], n))
        out.update({n: best for n in members})
    return out


def tidy_labels(title: str | None, artist: str | None, stem: str | None = None
                ) -> tuple[str | None, str | None]:
    """``(title, artist)`` as shown: a credit in the title moved to the artist when the artist
    is unknown, and a file-name-like title (or, without a title, ``stem``) made readable."""
    if title and not (artist and artist.strip()):
        title, artist = split_credit(title)
    if title and looks_like_file_name(title):
        title = readable_title(title)
    elif not title and stem:
        title = readable_title(stem)
    return title, artist
