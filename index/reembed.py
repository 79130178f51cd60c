"""Migrating a library to another model: re-embed every track, then switch in one commit."""

from __future__ import annotations

from lyrebird.core.progress import progress
from lyrebird.encoders import AudioError

from .ingest import Embedded, embed_file, tag_file
from .model import LibraryModel, ModelHandle, load_model
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


def retag(lib, handle: ModelHandle, batch_size: int = 32) -> AddReport:
    """Give every track of ``lib`` (a :class:`lyrebird.index.Library` opened for writing) the
    tags of its model's (``handle``'s) current tag student, for the track and each of its
    segments, where it has none or another student's: a library made before the student
    shipped (or before segments kept their tags), or by an older one. The files are
    decoded and the student run on the library's segments (:func:`lyrebird.index.ingest.
    tag_file`: no encoder); the track's top tags (``Hit.tags``) become the student's; vectors
    are unchanged. ``added`` lists the tracks retagged; a file gone or unreadable goes to ``failed`` and its
    track is kept as it is. Commits every ``batch_size`` tracks; a model without a student
    retags nothing."""
    from . import store, tag_store

    rep = AddReport()
    with lib.writing():
        key = handle.tag_student_key
        if key is None:
            return rep
        seg, hop = float(lib.meta["segment_s"]), float(lib.meta["hop_s"])
        ids = tag_store.tracks_without_tags(lib.con, key)
        if not ids:
            return rep
        rows = store.get_tracks(lib.con, ids)
        pending: list[tuple[int, str, tuple]] = []

        def flush() -> None:
            with store.immediate(lib.con):
                for tid, _, (tags, seg_tags) in pending:
                    tag_store.set_tags(lib.con, tid, store.segment_ids(lib.con, tid), tags,
                                       seg_tags, key)
                    store.set_zs_tags(lib.con, tid, handle.stored_tags(None, None, tags))
                tag_store.bump_tags_version(lib.con)
            rep.added.extend((path, tid) for tid, path, _ in pending)
            pending.clear()

        for tid in progress(ids, desc="retag"):
            path = rows[tid].path
            try:
                tags = tag_file(handle.model, path, seg, hop)
            except (AudioError, OSError) as e:
                rep.failed.append((path, getattr(e, "reason", str(e))))
                continue
            if tags is not None:
                pending.append((tid, path, tags))
            if len(pending) >= batch_size:
                flush()
        if pending:
            flush()
    return rep
