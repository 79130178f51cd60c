"""Migrating a library to another model: re-embed every track, then switch in one commit."""

from __future__ import annotations

from lyrebird.core.progress import progress
from lyrebird.encoders import AudioError

from .ingest import Embedded, embed_file
from .model import LibraryModel, load_model
from .types import AddReport


def reembed(lib, model: str | LibraryModel) -> AddReport:
    """Re-embed every track of ``lib`` (a :class:`lyrebird.index.Library` opened for writing)
    with another model and switch the library to it.

    All new vectors are computed first, holding the writer lock (:meth:`Library.writing`); then
    :meth:`Library.switch_model` replaces rows and indexes in one commit, so an interruption
    leaves the library on the old model, intact. Tracks whose file is gone or unreadable are
    reported in ``failed`` and removed.
    """
    m = load_model(model) if isinstance(model, str) else model
    rep = AddReport()
    with lib.writing():
        seg, hop = float(lib.meta["segment_s"]), float(lib.meta["hop_s"])
        new: dict[int, Embedded] = {}
        for r in progress(lib.tracks(), desc="reembed"):
            try:
                new[r.id] = embed_file(m, r.path, seg, hop)
                rep.added.append((r.path, r.id))
            except (AudioError, OSError) as e:
                rep.failed.append((r.path, getattr(e, "reason", str(e))))
        lib.switch_model(m, new)
    return rep
