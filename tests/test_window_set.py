"""The tag student's window sets: a cache that grows with the labels instead of starting over."""

from __future__ import annotations

import numpy as np
import pandas as pd
from test_tag_head_train import LowHighTeacher, corpus

from lyrebird.train.teachers.windows import WindowConfig, label_windows
from lyrebird.train.trainers import window_set as ws_mod
from lyrebird.train.trainers.window_set import window_set


def same(a, b) -> None:
    """Two window sets hold the same windows, labels and log-mels, in the same order."""
    for k in ("mel", "starts", "probs", "feats", "track_rows"):
        assert np.array_equal(getattr(a, k), getattr(b, k)), k
    assert all(np.array_equal(x, y) for x, y in zip(a.track_win_s, b.track_win_s, strict=True))
    assert a.names == b.names and a.feat_dims == b.feat_dims


def counting(monkeypatch) -> list:
    """Record every shard the window set decodes."""
    seen, real = [], ws_mod._decode

    def spy(shard, *a, **k):
        seen.append(shard.stem)
        return real(shard, *a, **k)

    monkeypatch.setattr(ws_mod, "_decode", spy)
    return seen


def test_the_cache_decodes_only_the_newly_labelled_shards(tmp_path, monkeypatch):
    """With copies labelled after a first cached run, only the copies are decoded (a sung copy
    is slow to remake); the result is what a run without a cache makes. A shard removed since
    drops its track; an unchanged pool decodes nothing."""
    m = tmp_path / "m.parquet"
    pd.DataFrame(corpus(tmp_path, [0.1, 0.2, 0.3], "train", 0)).to_parquet(m)
    t = {"T": LowHighTeacher()}
    w, c = tmp_path / "w", tmp_path / "c"
    label_windows(m, w, WindowConfig(teachers=("T",), split=None), taggers=t)
    first = window_set(m, w, "train", ("T",), c, copies=True)
    clean = sorted(p.stem for p in (w / "shards").glob("*.npz"))
    assert len(first) == 3 * 6
    label_windows(m, w, WindowConfig(teachers=("T",), split=None, copies=1), taggers=t)
    seen = counting(monkeypatch)
    grown = window_set(m, w, "train", ("T",), c, copies=True)
    assert len(seen) == 3 and not set(seen) & set(clean), seen  # the copies only
    same(grown, window_set(m, w, "train", ("T",), None, copies=True))
    seen.clear()
    same(window_set(m, w, "train", ("T",), c, copies=True), grown)
    assert seen == []
    (w / "shards" / f"{clean[0]}.npz").unlink()
    shrunk = window_set(m, w, "train", ("T",), c, copies=True)
    assert seen == [] and len(shrunk) == len(grown) - 6
    same(shrunk, window_set(m, w, "train", ("T",), None, copies=True))


def test_a_cache_written_before_it_named_its_tracks_is_still_read(tmp_path, monkeypatch):
    """A cache from before ``track_shards`` (one track per listed shard) is reused as is."""
    m = tmp_path / "m.parquet"
    pd.DataFrame(corpus(tmp_path, [0.1, 0.2], "train", 0)).to_parquet(m)
    w, c = tmp_path / "w", tmp_path / "c"
    label_windows(m, w, WindowConfig(teachers=("T",), split=None), taggers={"T": LowHighTeacher()})
    fresh = window_set(m, w, "train", ("T",), c)
    f = next(c.glob("*.npz"))
    with np.load(f) as z:
        d = {k: z[k] for k in z.files if k not in ("track_shards", "n_frames")}
    np.savez(f, **d)
    seen = counting(monkeypatch)
    same(window_set(m, w, "train", ("T",), c), fresh)
    assert seen == []
