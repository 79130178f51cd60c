"""Playlists from a text query or seed tracks: diversity rules, MMR, "A into B", export.

:func:`make_playlist` is what :meth:`lyrebird.index.Library.playlist` runs. It draws a pool of
candidate tracks from the track index, then fills the list one position at a time with
maximal marginal relevance::

    pick argmax  λ · cos(track, target_i) − (1 − λ) · max cos(track, already picked)

under the diversity rules: a work appears once (a track is its own work unless its file tags
name one: ``work``, ``musicbrainz_workid``, ``work_id``), at most ``max_per_artist`` tracks of
an artist and ``max_per_album`` of an album (tracks without the tag are not capped).
``target_i`` is the query's vector, or for "A into B" the normalised blend
``(1 − t)·A + t·B`` with ``t`` going from 0 to 1 along the list; the tracks so chosen are then
ordered by ``cos(track, B) − cos(track, A)``, so the list moves from A to B.

:class:`Playlist` exports M3U8 (UTF-8, ``#EXTM3U``, ``#EXTINF:<seconds>,<artist> - <title>``,
absolute or relative paths), JSON and CSV, each written through
:func:`lyrebird.core.atomic.replaced_on_success`.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

from lyrebird.core.atomic import replaced_on_success

from . import store
from .types import LibraryError, TrackRow

WORK_TAGS = ("work", "musicbrainz_workid", "work_id")
INTO = re.compile(r"\s+(?:into|->|→)\s+", re.IGNORECASE)
Order = Literal["relevance", "smooth"]


@dataclass
class PlaylistItem:
    """One entry: the track, the score against its position's target and its best moment."""

    position: int
    track_id: int
    path: str
    title: str | None
    artist: str | None
    album: str | None
    duration_s: float
    score: float
    start_s: float
    end_s: float

    @property
    def label(self) -> str:
        """``Artist - Title`` (the file name stands in for a missing title)."""
        title = self.title or Path(self.path).stem
        return f"{self.artist} - {title}" if self.artist else title


@dataclass
class Playlist:
    """An ordered list of :class:`PlaylistItem` and how it was made (``params``)."""

    items: list[PlaylistItem] = field(default_factory=list)
    params: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.items)

    def __iter__(self):
        return iter(self.items)

    def track_ids(self) -> list[int]:
        return [it.track_id for it in self.items]

    def to_dict(self) -> dict:
        return {"params": self.params, "items": [asdict(it) for it in self.items]}

    def m3u8(self, relative_to: str | os.PathLike | None = None) -> str:
        """Extended M3U text; paths relative to the folder ``relative_to`` when given."""
        lines = ["#EXTM3U"]
        for it in self.items:
            label = " ".join(it.label.split())  # one line: no newlines or tabs in the label
            path = it.path
            if relative_to is not None:
                path = Path(os.path.relpath(it.path, Path(relative_to).resolve())).as_posix()
            lines += [f"#EXTINF:{round(it.duration_s)},{label}", path]
        return "\n".join(lines) + "\n"

    def write_m3u8(self, path: str | os.PathLike, relative: bool = False) -> Path:
        """Write an ``.m3u8`` (UTF-8); ``relative``: paths relative to its folder."""
        p = Path(path)
        text = self.m3u8(p.parent if relative else None)
        with replaced_on_success(p) as tmp:
            Path(tmp).write_text(text, encoding="utf-8")
        return p

    def write_json(self, path: str | os.PathLike) -> Path:
        p = Path(path)
        with replaced_on_success(p) as tmp:
            Path(tmp).write_text(json.dumps(self.to_dict(), indent=2, ensure_ascii=False) + "\n",
                                 encoding="utf-8")
        return p

    def csv(self) -> str:
        buf = io.StringIO()
        cols = list(PlaylistItem.__dataclass_fields__)
        w = csv.DictWriter(buf, fieldnames=cols, lineterminator="\n")
        w.writeheader()
        for it in self.items:
            w.writerow(asdict(it))
        return buf.getvalue()

    def write_csv(self, path: str | os.PathLike) -> Path:
        p = Path(path)
        with replaced_on_success(p) as tmp:
            Path(tmp).write_text(self.csv(), encoding="utf-8")
        return p


def work_key(row: TrackRow) -> str:
    """The work a track belongs to: a work id from its tags, else the track itself."""
    for k in WORK_TAGS:
        v = (row.file_tags or {}).get(k)
        if v:
            return f"work:{str(v).strip().lower()}"
    return f"track:{row.id}"


def _tag(row: TrackRow, key: str) -> str | None:
    v = row.artist if key == "artist" else (row.file_tags or {}).get(key)
    return str(v).strip().lower() if v else None


def _unit(v: np.ndarray) -> np.ndarray:
    return v / max(float(np.linalg.norm(v)), 1e-12)


def make_playlist(reader, query: str | None = None, *, seeds: list[int] | None = None,
                  n: int = 20, into: str | None = None, lam: float = 0.7,
                  max_per_artist: int | None = None, max_per_album: int | None = None,
                  order: Order = "relevance", pool: int | None = None) -> Playlist:
    """See :meth:`lyrebird.index.Library.playlist` (``reader``: a :class:`LibraryReader`)."""
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    if not 0.0 <= lam <= 1.0:
        raise ValueError(f"lam must be between 0 and 1, got {lam}")
    if order not in ("relevance", "smooth"):
        raise ValueError(f"order must be 'relevance' or 'smooth', got {order!r}")
    for name, cap in (("max_per_artist", max_per_artist), ("max_per_album", max_per_album)):
        if cap is not None and cap < 1:
            raise ValueError(f"{name} must be at least 1, got {cap}")
    query = query.strip() if query else None
    if query and into is None and INTO.search(query):
        query, into = (s.strip() for s in INTO.split(query, maxsplit=1))
    if not query and not seeds:
        raise ValueError("a playlist needs a query or seed track ids")
    seeds = [int(s) for s in seeds or []]
    a = _start_vector(reader, query, seeds)
    b = reader.model.text_vectors([into])[0] if into else None
    cands, vecs, rows = _pool(reader, a, b, exclude=set(seeds), size=pool or max(200, 10 * n))
    picks = _select(cands, vecs, rows, a, b, n, lam, max_per_artist, max_per_album)
    if b is not None:  # along the path: from most A-like to most B-like
        picks = sorted(picks, key=lambda p: float(vecs[p[0]] @ (b - a)))
        picks = [(j, t := _target(a, b, pos, len(picks)), float(vecs[j] @ t))
                 for pos, (j, _, _) in enumerate(picks)]
    elif order == "smooth":
        picks = _smooth(picks, vecs)
    items = []
    for pos, (j, target, score) in enumerate(picks):
        r = rows[int(cands[j])]
        s, e = reader.best_segment(r.id, target)
        items.append(PlaylistItem(pos + 1, r.id, r.path, r.title, r.artist,
                                  (r.file_tags or {}).get("album"), r.duration_s,
                                  round(float(score), 6), s, e))
    params = {"query": query, "into": into, "seeds": seeds, "n": n, "lam": lam,
              "max_per_artist": max_per_artist, "max_per_album": max_per_album,
              "order": "path" if b is not None else order}
    return Playlist(items, params)


def _start_vector(reader, query: str | None, seeds: list[int]) -> np.ndarray:
    parts = []
    if seeds:
        parts.append(_unit(np.mean([reader.track_vector(s) for s in seeds], axis=0)))
    if query:
        parts.append(reader.model.text_vectors([query])[0])
    return _unit(np.sum(parts, axis=0)).astype(np.float32)


def _pool(reader, a: np.ndarray, b: np.ndarray | None, exclude: set[int], size: int):
    """Candidate ids, their exact vectors and rows: nearest tracks to A, B and their middle."""
    reader.indexes.refresh()
    total = reader.indexes.index("tracks").ntotal
    if total == 0:
        raise LibraryError(f"'{reader.path}': the library is empty")
    found: dict[int, None] = {}
    for t in [a] if b is None else [a, _unit(a + b), b]:
        _, ids = reader.indexes.knn("tracks", t, min(total, size + len(exclude)))
        found.update((int(i), None) for i in ids if i >= 0 and int(i) not in exclude)
    rows = store.get_tracks(reader.con, list(found))
    cands = np.array([i for i in found if i in rows], np.int64)
    vecs = store.vectors_by_id(reader.con, "tracks", cands) if len(cands) else np.zeros((0, len(a)))
    return cands, vecs, rows


def _target(a: np.ndarray, b: np.ndarray | None, pos: int, n: int) -> np.ndarray:
    """The vector position ``pos`` of ``n`` aims at: A, or the blend from A to B."""
    if b is None:
        return a
    t = pos / max(1, n - 1)
    return _unit((1 - t) * a + t * b).astype(np.float32)


def _select(cands, vecs, rows, a, b, n, lam, max_artist, max_album):
    """Greedy MMR under the diversity rules → ``[(candidate index, target, relevance)]``."""
    picked: list[tuple[int, np.ndarray, float]] = []
    works: set[str] = set()
    counts: dict[tuple[str, str], int] = {}
    caps = {"artist": max_artist, "album": max_album}
    allowed = np.ones(len(cands), bool)
    max_sim = np.zeros(len(cands), np.float32)  # cosine to the closest track picked so far
    for pos in range(min(n, len(cands))):
        t = _target(a, b, pos, n)
        rel = vecs @ t
        mmr = lam * rel - (1 - lam) * max_sim if picked else rel.copy()
        mmr[~allowed] = -np.inf
        j = int(np.argmax(mmr))
        if not np.isfinite(mmr[j]):
            break
        picked.append((j, t, float(rel[j])))
        r = rows[int(cands[j])]
        works.add(work_key(r))
        for key, cap in caps.items():
            v = _tag(r, key)
            if cap is not None and v is not None:
                counts[key, v] = counts.get((key, v), 0) + 1
        max_sim = np.maximum(max_sim, vecs @ vecs[j]) if len(picked) > 1 else vecs @ vecs[j]
        for i in np.flatnonzero(allowed):  # apply the rules to what is left
            ri = rows[int(cands[i])]
            if work_key(ri) in works or any(
                    cap is not None and (v := _tag(ri, key)) is not None
                    and counts.get((key, v), 0) >= cap for key, cap in caps.items()):
                allowed[i] = False
    return picked


def _smooth(picks, vecs):
    """Reorder so that neighbours are similar: a nearest-neighbour chain from the best pick."""
    left, out = list(picks[1:]), [picks[0]] if picks else []
    while left:
        last = vecs[out[-1][0]]
        i = int(np.argmax([vecs[j] @ last for j, _, _ in left]))
        out.append(left.pop(i))
    return out
