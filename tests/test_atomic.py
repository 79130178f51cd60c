"""Atomic file replacement: private temp files, no clash between writers, nothing lost on
failure (mel cache, MuLan feature cache, manifests, demo-corpus parts)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lyrebird.core.atomic import replaced_on_success
from lyrebird.train.corpora.manifest import read_manifest, write_manifest
from lyrebird.train.trainers.mulan_data import Ragged


def test_success_replaces_and_failure_keeps_the_old_file(tmp_path):
    p = tmp_path / "f.txt"
    p.write_text("old")
    with pytest.raises(RuntimeError), replaced_on_success(p) as tmp:
        with open(tmp, "w") as f:
            f.write("half")
        raise RuntimeError("interrupted")
    assert p.read_text() == "old" and sorted(x.name for x in tmp_path.iterdir()) == ["f.txt"]
    with replaced_on_success(p) as tmp, open(tmp, "w") as f:
        f.write("new")
    assert p.read_text() == "new" and sorted(x.name for x in tmp_path.iterdir()) == ["f.txt"]


def test_interleaved_writers_of_one_file_do_not_clash(tmp_path):
    p = tmp_path / "cache.bin"
    with replaced_on_success(p) as a:
        with replaced_on_success(p) as b:
            assert a != b
            with open(a, "w") as f:
                f.write("A" * 1000)
            with open(b, "w") as f:
                f.write("B" * 1000)
        assert p.read_text() == "B" * 1000
    assert p.read_text() == "A" * 1000  # the last complete write wins, never a mix
    assert [x.name for x in tmp_path.iterdir()] == ["cache.bin"]


def test_a_failed_manifest_write_keeps_the_stored_manifest(tmp_path):
    p = tmp_path / "m.parquet"
    good = pd.DataFrame({"path": ["a.wav"], "split": ["train"]})
    write_manifest(good, p)
    bad = pd.DataFrame({"path": ["b.wav"], "split": [object()]})  # not serialisable
    with pytest.raises(Exception):  # noqa: B017 - pyarrow's own error type
        write_manifest(bad, p)
    assert read_manifest(p)["path"].tolist() == ["a.wav"]
    assert [x.name for x in tmp_path.iterdir()] == ["m.parquet"]


def test_feature_store_round_trip_leaves_no_temp_files(tmp_path):
    p = tmp_path / "feats.f16"
    chunks = [np.full((n, 4), n, dtype=np.float32) for n in (2, 3, 1)]
    Ragged.write(p, iter(chunks), order=np.array([2, 0, 1]))
    store = Ragged(p)
    assert [store[i].shape[0] for i in range(3)] == [3, 1, 2]  # item order[k] is chunk k
    assert np.allclose(store[2], 2.0)
    assert sorted(x.name for x in tmp_path.iterdir()) == ["feats.f16", "feats.json"]


def test_written_files_get_the_usual_mode_not_mkstemps_0600(tmp_path):
    import os
    import stat

    from lyrebird.core.atomic import replaced_on_success

    old = os.umask(0o022)
    try:
        for durable in (False, True):
            target = tmp_path / f"f{durable}.bin"
            with replaced_on_success(target, durable=durable) as tmp:
                open(tmp, "wb").write(b"x")
            assert stat.S_IMODE(target.stat().st_mode) == 0o644
            assert target.read_bytes() == b"x"
    finally:
        os.umask(old)
