"""One result per work: what makes two tracks one work, and grouping a ranked list by it.

A *work* is a ``work`` file tag (or ``musicbrainz_workid`` / ``work_id``), else the same title
and artist (case and surrounding space ignored); a track without a title is its own work.
Grouping keeps the best hit of each work, counts the others in ``Hit.more_of_work`` and can
leave out one work (the query track's own, for "more like this"). The reader groups by
default, so the CLI, the JSON API and the app return the same list.
"""

from __future__ import annotations

from dataclasses import replace

from .types import Hit, TrackRow

WORK_TAGS = ("work", "musicbrainz_workid", "work_id")


def work_key(row: TrackRow) -> tuple | None:
    """The work of a stored track, or ``None`` (an untitled track: a work of its own)."""
    tags = row.file_tags or {}
    tagged = next((tags.get(t) for t in WORK_TAGS if tags.get(t)), None)
    if tagged:
        return ("work", str(tagged))
    if not row.title:
        return None
    return ("title", row.title.strip().lower(), (row.artist or "").strip().lower())


def group_by_work(hits: list[Hit], rows: dict[int, TrackRow], k: int,
                  skip: tuple | None = None) -> list[Hit]:
    """The best hit of each work among ``hits`` (best first), at most ``k``, with
    ``more_of_work`` counting the work's other hits; hits of work ``skip`` are left out."""
    out: list[Hit] = []
    first: dict[tuple, int] = {}
    for h in hits:
        row = rows.get(h.track_id)
        work = work_key(row) if row is not None else None
        if work is not None and work == skip:
            continue
        if work is not None and work in first:
            i = first[work]
            out[i] = replace(out[i], more_of_work=out[i].more_of_work + 1)
            continue
        if work is not None:
            first[work] = len(out)
        out.append(h)
    return out[:k]


__all__ = ["WORK_TAGS", "group_by_work", "work_key"]
