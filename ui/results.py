"""Search results as the command line and other front ends show them: title, artist and the
same tag chips as the app's result cards (:mod:`.tag_chips`: synonyms merged, contradictions
dropped, calibrated thresholds), as records, a line per hit, or a user's ``--format`` template.

``lyrebird search`` / ``lyrebird similar`` and the beets plugin print through these; the chips
come from :class:`.service.LibraryService`'s snapshot, so a track shows the chips it shows in
the app.
"""

from __future__ import annotations

import os
import string
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from lyrebird.core.metadata import readable_title
from lyrebird.index import Hit, LibraryModel

FIELDS: dict[str, str] = {
    "rank": "the result's place, from 1", "track_id": "the library's track id",
    "title": "the title (else the file name, made readable)", "artist": "the artist, or ''",
    "chips": "the app's tag chips, comma-separated", "score": "the match, a cosine (float)",
    "start": "start of the best moment, m:ss", "end": "its end, m:ss",
    "path": "the file", "file": "the file's name",
}
"""The fields a ``--format`` template may name, and what each holds."""


def clock(seconds: float) -> str:
    """``75.2`` → ``"1:15"`` (whole seconds; hours as ``h:mm:ss``)."""
    s = max(0, round(float(seconds)))
    h, rest = divmod(s, 3600)
    return f"{h}:{rest // 60:02d}:{rest % 60:02d}" if h else f"{rest // 60}:{rest % 60:02d}"


def chip_lookup(library: str | os.PathLike, model: LibraryModel) -> Callable[[int], list[str]]:
    """``track id → chips`` of a library, as the app shows them (one snapshot of the library,
    read once; ``model`` scores the tag prompts: pass the one already loaded)."""
    from .service import LibraryService

    snap = LibraryService(library, model=model, allow_add=False).snapshot()
    return snap.chips_of


def result_records(hits: Iterable[Hit], chips_of: Callable[[int], list[str]] | None = None
                   ) -> list[dict[str, Any]]:
    """Hits as JSON-ready dicts: ``Hit.to_dict()`` plus ``rank``, ``display_title`` (the
    title, else the file name made readable) and ``chips``."""
    out = []
    for n, h in enumerate(hits, 1):
        d = h.to_dict()
        d["rank"] = n
        d["display_title"] = h.title or readable_title(Path(h.path).stem)
        d["chips"] = list(chips_of(h.track_id)) if chips_of is not None else []
        out.append(d)
    return out


def check_template(template: str) -> str:
    """``template`` when every field it names is in :data:`FIELDS`; otherwise ``ValueError``
    naming the field and the ones there are."""
    try:
        names = [f for _, f, _, _ in string.Formatter().parse(template) if f is not None]
    except ValueError as e:
        raise ValueError(f"--format {template!r}: {e}") from None
    for name in names:
        base = name.split(".")[0].split("[")[0]
        if base not in FIELDS:
            raise ValueError(f"--format: unknown field {{{name}}}; fields: "
                             + ", ".join(f"{{{f}}}" for f in FIELDS))
    return template


def template_values(record: dict[str, Any]) -> dict[str, Any]:
    """The :data:`FIELDS` of one result record (see :func:`result_records`)."""
    return {"rank": record["rank"], "track_id": record["track_id"],
            "title": record["display_title"], "artist": record.get("artist") or "",
            "chips": ", ".join(record["chips"]), "score": record["score"],
            "start": clock(record["start_s"]), "end": clock(record["end_s"]),
            "path": record["path"], "file": Path(record["path"]).name}


def format_record(template: str, record: dict[str, Any]) -> str:
    """One result through a ``--format`` template (``ValueError`` for a bad one)."""
    try:
        return template.format_map(template_values(record))
    except (ValueError, TypeError, KeyError, IndexError, AttributeError) as e:
        raise ValueError(f"--format {template!r}: {e}") from None


def record_line(record: dict[str, Any]) -> str:
    """The default line: ``" 1. Title — Artist  [piano, quiet]  match 0.812 · best 0:10–0:20
    · #3"`` (no artist, no chips: left out)."""
    v = template_values(record)
    who = f" — {v['artist']}" if v["artist"] else ""
    chips = f"  [{v['chips']}]" if v["chips"] else ""
    return (f"{v['rank']:2d}. {v['title']}{who}{chips}  match {v['score']:.3f} · best "
            f"{v['start']}–{v['end']} · #{v['track_id']}")


__all__ = ["FIELDS", "check_template", "chip_lookup", "clock", "format_record", "record_line",
           "result_records", "template_values"]
