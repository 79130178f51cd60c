"""Migrating a library to another model: re-embed every track, then switch in one commit."""

from __future__ import annotations

import json

import numpy as np

from lyrebird.core.progress import progress
from lyrebird.encoders import AudioError

from . import store
from .ingest import embed_file
from .library import SEGMENTS, TRACKS, AddReport
from .model import LibraryModel, load_model
from .vectors import save_index


def reembed(lib, model: str | LibraryModel) -> AddReport:
    """Re-embed every track with another model and switch the library to it.

    All new vectors are computed first; then rows and indexes are replaced in one commit,
    so an interruption leaves the library on the old model, intact. Tracks whose file is
    gone or unreadable are reported in ``failed`` and removed.
    """
    m = load_model(model) if isinstance(model, str) else model
    rep = AddReport()
    with lib._lock():
        lib._refresh_writer()
        new = {}
        for r in progress(store.all_tracks(lib.con), desc="reembed"):
            try:
                new[r.id] = embed_file(m, r.path, float(lib.meta["segment_s"]),
                                       float(lib.meta["hop_s"]))
                rep.added.append((r.path, r.id))
            except (AudioError, OSError) as e:
                rep.failed.append((r.path, getattr(e, "reason", str(e))))
        lib.con.execute("BEGIN IMMEDIATE")
        try:
            keep = set(new)
            for r in store.all_tracks(lib.con):
                if r.id not in keep:
                    lib.con.execute("DELETE FROM tracks WHERE id = ?", (r.id,))
            lib.con.execute("DELETE FROM segments")
            lib._model = m
            for tid, emb in new.items():
                lib.con.execute("UPDATE tracks SET vector = ?, zs_tags = ? WHERE id = ?",
                                 (emb.vector.astype(np.float32).tobytes(),
                                  json.dumps(lib._zs_tags(emb.vector)), tid))
                for (a, b), v in zip(emb.segments, emb.seg_vectors, strict=True):
                    lib.con.execute("INSERT INTO segments(track_id, start_s, end_s, vector) "
                                     "VALUES (?,?,?,?)", (tid, a, b, v.astype(np.float16).tobytes()))
            store.set_meta(lib.con, model=m.name, fingerprint=m.fingerprint(), dim=str(m.DIM),
                           sample_rate=str(m.SAMPLE_RATE))
            lib.meta = store.get_meta(lib.con)
            info = {}
            for name, table in ((TRACKS, "tracks"), (SEGMENTS, "segments")):
                idx, info[table] = lib._build(table)
                save_index(idx, lib.path / name)
            store.set_meta(lib.con, index_info=json.dumps(info))
            lib.con.execute("COMMIT")
        except BaseException:
            lib.con.execute("ROLLBACK")
            lib.meta = store.get_meta(lib.con)
            lib._model = None
            lib._load_indexes()
            raise
        lib._text_cache.clear()
        lib._load_indexes()
    return rep
