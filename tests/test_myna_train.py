"""Myna training end to end: CLI run, export, resume, DDP on gloo, and checkpoint safety."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from lyrebird.core.configs import config_to_dict
from lyrebird.encoders import CheckpointError, get_encoder, save_checkpoint
from lyrebird.encoders.myna import MynaEncoder, presets
from lyrebird.train.trainers.common import read_curve


@pytest.fixture(scope="module")
def music_dir(tmp_path_factory) -> Path:
    """Twelve 8-second tracks, each a different harmonic tone with its own tremolo."""
    d = tmp_path_factory.mktemp("music")
    rng = np.random.default_rng(0)
    sr = 22050
    t = np.arange(sr * 8) / sr
    for i in range(12):
        f0 = 110 * 2 ** (rng.integers(0, 24) / 12)
        x = sum(0.2 / (k + 1) * np.sin(2 * np.pi * f0 * (k + 1) * t) for k in range(4))
        x *= 1 + 0.5 * np.sin(2 * np.pi * rng.uniform(0.5, 4) * t)
        sf.write(d / f"t{i}.flac", (0.5 * x).astype(np.float32), sr)
    return d


def run_cli(*args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    res = subprocess.run([sys.executable, "-m", "lyrebird", *args], capture_output=True,
                         text=True, timeout=timeout, env=env)
    assert res.returncode == 0, res.stderr[-3000:]
    return res


TRAIN = ("train", "myna", "--preset", "tiny", "--batch-size", "6", "--set", "val_every=10",
         "--set", "ckpt_every=10", "--set", "warmup_steps=5", "--lr", "1e-3",
         "--set", "log_every=1")


@pytest.mark.timeout(600)
def test_train_export_resume(music_dir, tmp_path):
    out = tmp_path / "run"
    res = run_cli(*TRAIN, "--data", str(music_dir), "--out", str(out), "--max-steps", "30", "--json")
    model_dir = Path(json.loads(res.stdout)["model"])
    meta = json.loads((model_dir / "config.json").read_text())
    assert meta["kind"] == "myna" and meta["preset"] == "tiny-hybrid" and meta["steps"] == 30
    assert "train myna" in meta["command"] and meta["mel"]["sample_rate"] == 16000
    curve = read_curve(out)
    loss = curve["train_loss"].dropna().to_numpy()
    assert loss[-8:].mean() < 0.85 * loss[:8].mean()  # learning happens
    assert (out / "training_curve.png").stat().st_size > 1000
    enc = get_encoder(model_dir, device="cpu")
    v = enc.embed(np.random.default_rng(0).standard_normal(16000 * 4).astype(np.float32) * 0.1, 16000)
    assert v.shape == (128,) and torch.isfinite(v).all()
    # resume: a second call with more steps continues from the checkpoint, not from scratch
    res = run_cli(*TRAIN, "--data", str(music_dir), "--out", str(out), "--max-steps", "40")
    assert "resuming from" in res.stderr or "Restored all states" in res.stderr
    meta = json.loads((model_dir / "config.json").read_text())
    assert meta["steps"] == 40
    steps = read_curve(out)["step"].to_numpy()
    assert steps.min() < 20 and steps.max() >= 39  # the curve keeps the first session


@pytest.mark.timeout(600)
def test_ddp_two_cpu_processes_on_gloo_follow_the_single_process_curve(music_dir, tmp_path):
    common = ("--data", str(music_dir), "--max-steps", "40", "--accelerator", "cpu")
    run_cli(*TRAIN, *common, "--out", str(tmp_path / "one"))
    # 2 processes x 3 pairs = the same global batch of 6 pairs, negatives gathered across ranks
    t = list(TRAIN)
    t[t.index("--batch-size") + 1] = "3"
    res = run_cli(*t, *common, "--out", str(tmp_path / "two"), "--devices", "2",
                  "--strategy", "ddp")
    assert res.stdout.count("exported") == 1  # only rank 0 reports
    one = read_curve(tmp_path / "one")["train_loss"].dropna().to_numpy()
    two = read_curve(tmp_path / "two")["train_loss"].dropna().to_numpy()
    assert len(two) == len(one) == 40
    for curve in (one, two):  # both go down: last 8 steps well below the first 8
        assert curve[-8:].mean() < 0.85 * curve[:8].mean()
    # same scale: the global contrastive loss (2 x 6 - 1 candidates) starts at the same level
    assert abs(one[:8].mean() - two[:8].mean()) < 0.25 * one[:8].mean()


def test_checkpoint_round_trip_fp32_and_fp16(tmp_path):
    torch.manual_seed(1)
    cfg = presets()["tiny-hybrid"]
    m = MynaEncoder(cfg).eval()
    wav = np.random.default_rng(2).standard_normal(16000 * 5).astype(np.float32) * 0.1
    ref = m.embed(wav, 16000)
    for fp16 in (False, True):
        d = save_checkpoint(tmp_path / f"ck{fp16}", m.state_dict(), kind="myna", preset="tiny-hybrid",
                            config=config_to_dict(cfg), mel=config_to_dict(cfg.mel), fp16=fp16)
        got = get_encoder(d, device="cpu")
        assert next(got.parameters()).dtype == torch.float32  # fp16 on disk, fp32 in memory
        v = got.embed(wav, 16000)
        if fp16:
            assert torch.nn.functional.cosine_similarity(v, ref, dim=0) > 0.999
        else:
            torch.testing.assert_close(v, ref, rtol=0, atol=1e-6)


def test_bad_checkpoints_fail_clearly(tmp_path):
    with pytest.raises(CheckpointError, match="no config.json"):
        get_encoder(tmp_path)
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="invalid JSON"):
        get_encoder(tmp_path)
    cfg = presets()["tiny-square"]
    good = MynaEncoder(cfg).state_dict()
    d = save_checkpoint(tmp_path / "a", good, kind="myna", preset=None,
                        config={**config_to_dict(cfg), "depthh": 3})
    with pytest.raises(ValueError, match="depthh"):
        get_encoder(d)
    d = save_checkpoint(tmp_path / "b", good, kind="myna", preset=None,
                        config=config_to_dict(presets()["tiny-vertical"]))
    with pytest.raises(CheckpointError, match="do not fit"):
        get_encoder(d)
    d = save_checkpoint(tmp_path / "c", good, kind="nope", preset=None, config={})
    with pytest.raises(CheckpointError, match="unknown encoder kind"):
        get_encoder(d)
    (d / "model.safetensors").write_bytes(b"garbage")
    with pytest.raises(CheckpointError, match="safetensors"):
        get_encoder(d)


def test_grouped_batches_are_runs_of_one_group_covering_every_item():
    from lyrebird.train.trainers.myna_module import GroupedBatchSampler

    groups = np.array(["a"] * 10 + ["b"] * 7 + ["c"] * 3)
    s = GroupedBatchSampler(groups, batch_size=8, per_group=4, seed=1)
    batches = list(s)
    assert len(batches) == len(s) == (3 + 2 + 1) // 2
    seen = set()
    for b in batches:
        assert len(b) == 8
        for run in (b[:4], b[4:]):
            assert len(set(groups[run])) == 1  # a run shares its group
        seen |= set(b)
    runs = [tuple(b[i:i + 4]) for b in batches for i in (0, 4)]
    assert len(seen) >= 20 - 4  # at most one run (the remainder) is left out per epoch
    assert list(GroupedBatchSampler(groups, 8, 4, seed=1)) == batches  # reproducible
    s.set_epoch(1)
    assert [tuple(b[i:i + 4]) for b in s for i in (0, 4)] != runs  # reshuffled each epoch
    with pytest.raises(ValueError, match="multiple of the group run"):
        GroupedBatchSampler(groups, batch_size=10, per_group=4)


def test_item_groups_read_the_manifest_column_or_fall_back_to_the_source():
    from types import SimpleNamespace

    import pandas as pd

    from lyrebird.train.trainers.myna_module import item_groups

    manifest = SimpleNamespace(cache=SimpleNamespace(index=pd.DataFrame(
        {"instrument_family": ["piano", None, "organ"]})), items=[(0, 0, 5), (0, 5, 5), (1, 0, 9), (2, 0, 9)])
    folder = SimpleNamespace(cache=SimpleNamespace(index=pd.DataFrame({"path": ["x", "y"]})),
                             items=[(0, 0, 9), (1, 0, 9)])
    got = item_groups([manifest, folder], "instrument_family").tolist()
    assert got == ["0:piano", "0:piano", "source0", "0:organ", "source1", "source1"]


@pytest.mark.timeout(600)
def test_train_with_grouped_batches_and_an_mlp_projector(music_dir, tmp_path):
    out = tmp_path / "run"
    res = run_cli(*TRAIN, "--data", str(music_dir), "--out", str(out), "--max-steps", "4",
                  "--set", "group_by=instrument_family", "--set", "group_size=3",
                  "--set", "proj_hidden=32", "--set", "tau=0.2", "--set", "transpose=3",
                  "--json")
    model_dir = Path(json.loads(res.stdout)["model"])
    meta = json.loads((model_dir / "config.json").read_text())
    assert meta["steps"] == 4 and "--set group_by=instrument_family" in meta["command"]
    assert meta["config"]["proj_hidden"] == 32 and meta["config"]["tau"] == 0.2
    assert meta["config"]["transpose"] == 3
    enc = get_encoder(model_dir, device="cpu")
    assert isinstance(enc.projector, torch.nn.Sequential) and enc.projector[0].out_features == 32
