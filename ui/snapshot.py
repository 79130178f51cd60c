"""What the app keeps in memory about a library: rows, track vectors, tag chips, the 2-D map.

A :class:`Snapshot` is built once per library state and replaced when its content changes
(:func:`library_key` changes), so the map's projection and every track's chips are computed
once, not per request. At 10,000 tracks of 512-d vectors it holds about 20 MB and
builds in well under a second (the projection is a PCA through a 512×512 covariance).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from lyrebird.index import Library
from lyrebird.index.types import TrackRow

from .tag_chips import ChipRule


def library_key(lib: Library) -> tuple:
    """Changes on every change of the library's content: the model, track and segment counts,
    hours, the highest track id and the write generation (bumped by every write transaction,
    so a file replaced by another of the same length changes it too)."""
    return lib.content_key()


def project(vectors: np.ndarray) -> np.ndarray:
    """``(N, D)`` → ``(N, 2)`` in [0, 1]²: the first two principal components (sign fixed so
    the layout does not flip between rebuilds), scaled together to keep distances honest."""
    n = len(vectors)
    if n == 0:
        return np.zeros((0, 2), np.float32)
    if n < 3:
        return np.full((n, 2), 0.5, np.float32) + np.arange(n)[:, None] * 0.1
    x = vectors.astype(np.float64) - vectors.mean(0)
    _, vecs = np.linalg.eigh(x.T @ x)
    comps = vecs[:, ::-1][:, :2]
    comps *= np.sign(comps[np.argmax(np.abs(comps), 0), [0, 1]])
    xy = x @ comps
    lo, span = xy.min(0), (xy.max(0) - xy.min(0)).max()
    xy = (xy - lo) / (span if span > 0 else 1.0)
    return (xy + (1.0 - xy.max(0)) / 2).astype(np.float32)  # centre the shorter axis


@dataclass
class Snapshot:
    """One library state: ``ids``/``vectors``/``rows`` in id order, ``scores`` ``(N, T)`` of the
    default tags (None for a model without them) and the chip ``rule``."""

    key: tuple
    ids: np.ndarray
    vectors: np.ndarray
    rows: list[TrackRow]
    scores: np.ndarray | None = None
    rule: ChipRule | None = None
    _pos: dict[int, int] = field(default_factory=dict)
    _chips: list[list[str]] | None = None
    _xy: np.ndarray | None = None
    map_json: bytes | None = None  # the map's /data answer, once built (music_map.map_data)

    def __post_init__(self) -> None:
        self._pos = {int(i): k for k, i in enumerate(self.ids)}

    def __len__(self) -> int:
        return len(self.ids)

    def position(self, track_id: int) -> int | None:
        return self._pos.get(int(track_id))

    @property
    def chips(self) -> list[list[str]]:
        """Every track's chips (computed once)."""
        if self._chips is None:
            self._chips = (self.rule.chips(self.scores) if self.rule is not None
                           and self.scores is not None and len(self.scores)
                           else [[] for _ in self.rows])
        return self._chips

    def chips_of(self, track_id: int) -> list[str]:
        k = self.position(track_id)
        return self.chips[k] if k is not None else []

    @property
    def xy(self) -> np.ndarray:
        """``(N, 2)`` map positions (computed once)."""
        if self._xy is None:
            self._xy = project(self.vectors)
        return self._xy

    def licence(self, track_id: int) -> str | None:
        """The track's licence from its file tags (``license``, else ``copyright``), if any."""
        k = self.position(track_id)
        if k is None:
            return None
        tags = self.rows[k].file_tags or {}
        return next((str(tags[t]) for t in ("license", "copyright") if tags.get(t)), None)

    def title(self, track_id: int) -> str:
        """The track's title (or file name) for messages."""
        k = self.position(track_id)
        if k is None:
            return f"track #{track_id}"
        r = self.rows[k]
        return r.title or Path(r.path).name


def build_snapshot(lib: Library, key: tuple,
                   tag_scores: Callable[[Library, np.ndarray, np.ndarray],
                                        tuple[list[str], np.ndarray] | None],
                   make_rule: Callable[[list[str], np.ndarray], ChipRule]) -> Snapshot:
    """Read every track row and vector of ``lib``; chips from ``tag_scores(lib, ids (N,),
    vectors (N, D))`` when it gives ``(tags, (N, T) scores)``."""
    ids, vecs = lib.track_vectors()
    byid = {r.id: r for r in lib.tracks()}
    keep = [k for k, i in enumerate(ids) if int(i) in byid]  # a row deleted in between
    ids, vecs = ids[keep], vecs[keep]
    snap = Snapshot(key, ids, vecs, [byid[int(i)] for i in ids])
    scored = tag_scores(lib, ids, vecs)
    if scored is not None:
        tags, snap.scores = scored
        snap.rule = make_rule(tags, snap.scores)
    return snap
