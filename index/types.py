"""What the library hands back: search hits, add reports, stored track rows, and its error.

Plain data only (no imports from the rest of ``lyrebird.index``), so every module of the
package can use them without depending on another.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


class LibraryError(ValueError):
    """The library cannot do what was asked (missing, locked, wrong model, unknown track)."""


@dataclass
class Hit:
    """One search result. ``start_s``/``end_s`` locate the best-matching segment."""

    track_id: int
    path: str
    score: float
    start_s: float
    end_s: float
    title: str | None = None
    artist: str | None = None
    tags: dict = field(default_factory=dict)
    more_of_work: int = 0  # other hits of the same work left out (:mod:`lyrebird.index.works`)

    def to_dict(self) -> dict:
        """The fields as a plain dict (JSON-ready; the API's stable field names)."""
        return {"track_id": self.track_id, "path": self.path, "score": self.score,
                "start_s": self.start_s, "end_s": self.end_s, "title": self.title,
                "artist": self.artist, "tags": dict(self.tags),
                "more_of_work": self.more_of_work}


@dataclass
class AddReport:
    """What ``add`` did: ``added`` (path, id), ``duplicates`` (path, existing id), ``failed``
    (path, reason)."""

    added: list[tuple[str, int]] = field(default_factory=list)
    duplicates: list[tuple[str, int]] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"added": [{"path": p, "track_id": i} for p, i in self.added],
                "duplicates": [{"path": p, "track_id": i} for p, i in self.duplicates],
                "failed": [{"path": p, "reason": r} for p, r in self.failed]}


@dataclass
class SyncReport:
    """What ``sync`` did: ``added`` (path, id), ``moved`` (old path, new path, id; not
    re-embedded), ``updated`` (path, new id: content changed, re-embedded), ``removed`` (path,
    id: file gone), ``unchanged`` (count), ``duplicates`` (path, existing id), ``failed``
    (path, reason), ``offline`` (folder, reason, tracks kept: a folder that is missing, not a
    folder, unreadable or empty; its tracks are kept, searchable, until it is back)."""

    added: list[tuple[str, int]] = field(default_factory=list)
    moved: list[tuple[str, str, int]] = field(default_factory=list)
    updated: list[tuple[str, int]] = field(default_factory=list)
    removed: list[tuple[str, int]] = field(default_factory=list)
    unchanged: int = 0
    duplicates: list[tuple[str, int]] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    offline: list[tuple[str, str, int]] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        return {k: v if isinstance(v, int) else len(v) for k, v in asdict(self).items()}

    def changed(self) -> bool:
        """Whether the library changed."""
        return bool(self.added or self.moved or self.updated or self.removed)

    def to_dict(self) -> dict:
        return {"counts": self.counts(),
                "added": [{"path": p, "track_id": i} for p, i in self.added],
                "moved": [{"from": a, "to": b, "track_id": i} for a, b, i in self.moved],
                "updated": [{"path": p, "track_id": i} for p, i in self.updated],
                "removed": [{"path": p, "track_id": i} for p, i in self.removed],
                "duplicates": [{"path": p, "track_id": i} for p, i in self.duplicates],
                "failed": [{"path": p, "reason": r} for p, r in self.failed],
                "offline": [{"path": p, "reason": r, "tracks_kept": n}
                            for p, r, n in self.offline]}


@dataclass
class CheckReport:
    """What ``Library.check`` found: ``problems`` (what is wrong, one line each; empty when the
    library is sound), ``repaired`` (what ``repair=True`` fixed), ``missing_files`` (path, track
    id: files not on disk, listed, never removed), ``counts`` (tracks, segments, and the
    vectors in each FAISS file)."""

    path: str
    problems: list[str] = field(default_factory=list)
    repaired: list[str] = field(default_factory=list)
    missing_files: list[tuple[str, int]] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """No problems left (missing files are not problems of the library itself)."""
        return not self.problems

    def to_dict(self) -> dict:
        return {"path": self.path, "ok": self.ok, "problems": list(self.problems),
                "repaired": list(self.repaired), "counts": dict(self.counts),
                "missing_files": [{"path": p, "track_id": i} for p, i in self.missing_files]}


@dataclass
class TrackRow:
    """One track as stored (vectors excluded)."""

    id: int
    path: str
    content_hash: str
    duration_s: float
    title: str | None
    artist: str | None
    genre: str | None
    file_tags: dict
    zs_tags: dict
    added_at: float


__all__ = ["AddReport", "CheckReport", "Hit", "LibraryError", "SyncReport", "TrackRow"]
