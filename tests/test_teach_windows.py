"""Window-by-window teacher labels (``lyrebird teach --windows``): shapes, float16 shards,
seeded augmentation, and resuming after a run is killed mid-way."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from click.testing import CliRunner

from lyrebird.train.teachers.windows import (
    WindowConfig,
    augment,
    label_windows,
    read_shard,
)

SR = 16000
WIN = 187 * 256


class FakeTeacher:
    """Per 2.992 s window: probabilities = energy shares below/above 1 kHz, features = the
    window's RMS and peak. Counts the windows it labelled."""

    sample_rate = SR
    window_frames = 187
    frontend = SimpleNamespace(cfg=SimpleNamespace(hop_length=256))

    def __init__(self, fail_after: int | None = None):
        self.calls, self.fail_after = 0, fail_after

    def _run(self, wav, sr, hop):
        self.calls += 1
        if self.fail_after is not None and self.calls > self.fail_after:
            raise KeyboardInterrupt("killed")
        n = len(wav) // WIN
        w = wav[: n * WIN].reshape(n, WIN)
        spec = np.abs(np.fft.rfft(w, axis=1)) ** 2
        low = spec[:, np.fft.rfftfreq(WIN, 1 / SR) < 1000].sum(1) / spec.sum(1)
        probs = np.stack([low, 1 - low], axis=1).astype(np.float32)
        feats = np.stack([np.sqrt((w**2).mean(1)), np.abs(w).max(1)], axis=1)
        return probs, feats.astype(np.float32)


@pytest.fixture
def manifest(tmp_path):
    rows = []
    for i, hz in enumerate([300.0, 3000.0, 500.0]):
        t = np.arange(int((10 + 3 * i) * SR)) / SR
        sf.write(tmp_path / f"t{i}.wav", (0.3 * np.sin(2 * np.pi * hz * t)).astype(np.float32),
                 SR)
        rows.append({"path": f"t{i}.wav", "start_s": 0.0, "end_s": 10.0 + 3 * i,
                     "split": "train"})
    rows.append({"path": "missing.wav", "start_s": 0.0, "end_s": 5.0, "split": "train"})
    rows.append({"path": "t0.wav", "start_s": 0.0, "end_s": 10.0, "split": "valid"})
    p = tmp_path / "m.parquet"
    pd.DataFrame(rows).to_parquet(p)
    return p


def _load(out):
    idx = pd.read_parquet(out / "index.parquet")
    return idx, [read_shard(out / s) for s in idx["shard"]]


def test_windows_shards_match_the_teacher(manifest, tmp_path):
    out = tmp_path / "w"
    cfg = WindowConfig(teachers=("A", "B"), copies=1)
    rep = label_windows(manifest, out, cfg, {"A": FakeTeacher(), "B": FakeTeacher()})
    assert rep.written == 6 and rep.shards == 6 and len(rep.failed) == 1  # missing.wav
    assert "missing.wav" in rep.failed[0]["path"]
    idx, shards = _load(out)
    assert sorted(idx["copy"]) == [0, 0, 0, 1, 1, 1]
    for (meta, arr), (_, r) in zip(shards, idx.iterrows(), strict=True):
        wav, _ = sf.read(manifest.parent / r["path"], dtype="float32")
        n = len(wav) // WIN
        assert arr["A/probs"].dtype == np.float16 and arr["A/feats"].dtype == np.float16
        if meta["copy"] == 0:  # clean copy: exactly the teacher's windows
            want_p, want_f = FakeTeacher()._run(wav, SR, None)
            np.testing.assert_allclose(arr["A/probs"], want_p, atol=1e-3)
            np.testing.assert_allclose(arr["B/feats"], want_f, atol=1e-3)
            np.testing.assert_allclose(arr["starts_s"], np.arange(n) * WIN / SR, atol=1e-4)
        else:
            assert set(meta["augment"]) == {"gain_db", "tilt_db_per_octave", "snr_db", "speed"}
            assert abs(len(arr["starts_s"]) - n) <= 1
    assert json.loads((out / "report.json").read_text())["config"]["copies"] == 1


def test_augment_is_seeded_and_small():
    t = np.arange(3 * SR) / SR
    wav = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    a, pa = augment(wav, SR, np.random.default_rng(1))
    b, pb = augment(wav, SR, np.random.default_rng(1))
    np.testing.assert_array_equal(a, b) and pa == pb
    assert 0.97 <= pa["speed"] <= 1.03 and abs(len(a) - len(wav) / pa["speed"]) <= 2
    spec = np.abs(np.fft.rfft(a))
    peak = np.fft.rfftfreq(len(a), 1 / SR)[spec.argmax()]
    assert peak == pytest.approx(440 * pa["speed"], rel=0.01)  # pitch moves with the speed


def test_resumes_after_a_kill(manifest, tmp_path):
    out = tmp_path / "w"
    cfg = WindowConfig(teachers=("A",), copies=1)
    killer = FakeTeacher(fail_after=3)
    with pytest.raises(KeyboardInterrupt):
        label_windows(manifest, out, cfg, {"A": killer})
    done = sorted((out / "shards").glob("*"))
    assert len(done) == 3 and all(p.suffix == ".npz" for p in done)  # no half-written file
    again = FakeTeacher()
    rep = label_windows(manifest, out, cfg, {"A": again})
    assert rep.reused == 3 and rep.written == 3 and again.calls == 3 and rep.shards == 6
    fresh = tmp_path / "fresh"
    label_windows(manifest, fresh, cfg, {"A": FakeTeacher()})
    for (m1, a1), (m2, a2) in zip(_load(out)[1], _load(fresh)[1], strict=True):
        assert m1 == m2
        for k in a1:
            np.testing.assert_array_equal(a1[k], a2[k])  # same bytes as an uninterrupted run


def test_cli_windows_with_real_teachers(manifest, tmp_path):
    from lyrebird.cli import main

    out = tmp_path / "cli"
    r = CliRunner().invoke(main, ["teach", str(manifest), "--windows", "--out", str(out),
                                  "--split", "valid", "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["written"] == 1
    meta, arr = _load(out)[1][0]
    assert meta["teachers"] == ["MTT_musicnn", "MSD_musicnn", "MTT_vgg", "MSD_vgg"]
    assert arr["MTT_musicnn/probs"].shape == (3, 50) and arr["MSD_vgg/feats"].shape == (3, 256)
    assert arr["MSD_musicnn/feats"].shape == (3, 200)
