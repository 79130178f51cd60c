"""The tag student's window sets: a cache that grows with the labels instead of starting over."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
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


def test_two_corpora_join_window_for_window(tmp_path):
    """``joined``: every window of each corpus keeps its log-mel frames and labels, offset by
    the corpora before it; tracks keep their rows. Sets of other teachers are refused."""
    from lyrebird.train.trainers.window_set import joined

    sets = []
    for k, lows in enumerate(([0.1, 0.2], [0.3, 0.05, 0.25])):
        d = tmp_path / f"c{k}"
        d.mkdir()
        m = d / "m.parquet"
        pd.DataFrame(corpus(d, lows, "train", k)).to_parquet(m)
        label_windows(m, d / "w", WindowConfig(teachers=("T",), split=None),
                      taggers={"T": LowHighTeacher()})
        sets.append(window_set(m, d / "w", "train", ("T",)))
    j = joined(sets)
    assert len(j) == len(sets[0]) + len(sets[1]) == 5 * 6
    assert len(j.track_rows) == 5 + 1 and j.track_rows[-1] == len(j)
    n, i = 187, 0
    for s in sets:
        for w in range(len(s)):
            assert np.array_equal(j.mel[j.starts[i]:j.starts[i] + n], s.mel[s.starts[w]:s.starts[w] + n])
            assert np.array_equal(j.probs[i], s.probs[w]) and np.array_equal(j.feats[i], s.feats[w])
            i += 1
    for t in range(5):  # each track's windows are its rows
        a, b = j.track_rows[t], j.track_rows[t + 1]
        assert b - a == len(j.track_win_s[t]) == 6
    assert joined(sets[:1]) is sets[0]
    other = ws_mod.WindowSet(sets[1].mel, sets[1].starts, sets[1].probs, sets[1].feats,
                             sets[1].track_rows, sets[1].track_win_s, ("x", "y"), sets[1].feat_dims)
    with pytest.raises(ValueError, match="other teachers"):
        joined([sets[0], other])


def test_two_decoding_processes_make_the_same_window_set(tmp_path):
    """``workers=2``: the tracks and their sung copies (the voice remade in another process)
    come out window for window as one process makes them, in the pool's order."""
    m = tmp_path / "m.parquet"
    pd.DataFrame(corpus(tmp_path, [0.1, 0.2, 0.3], "train", 0)).to_parquet(m)
    w = tmp_path / "w"
    label_windows(m, w, WindowConfig(teachers=("T",), split=None, copies=1, voice=1.0),
                  taggers={"T": LowHighTeacher()})
    one = window_set(m, w, "train", ("T",), None, copies=True)
    assert len(one) == 6 * 6
    same(window_set(m, w, "train", ("T",), tmp_path / "c", copies=True, workers=2), one)
