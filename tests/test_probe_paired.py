"""Paired bootstrap of an encoder against its random-init twin: against a direct resampling
loop, degenerate cases, and inside a probe run and its report."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import torch

from lyrebird.core.checkpoint import save_checkpoint
from lyrebird.core.configs import config_to_dict
from lyrebird.encoders import get_encoder
from lyrebird.encoders.myna import presets
from lyrebird.train.probes.paired import paired_bootstrap
from lyrebird.train.probes.report import write_report
from lyrebird.train.probes.run import ProbeOptions, run_probe
from lyrebird.train.probes.tasks import load_task


def acc(y: np.ndarray, out: np.ndarray) -> float:
    return float((out.argmax(1) == y).mean())


def test_matches_a_direct_resampling_loop():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 3, 60)
    a, b = rng.normal(size=(60, 3)), rng.normal(size=(60, 3))
    a[np.arange(60), y] += 1.0  # A is better
    d = paired_bootstrap(acc, y, a, b, n_boot=200, seed=7)
    r = np.random.default_rng(7)
    diffs = []
    for _ in range(200):
        i = r.integers(0, 60, 60)
        diffs.append(np.mean(a[i].argmax(1) == y[i]) - np.mean(b[i].argmax(1) == y[i]))
    assert d.diff == pytest.approx(np.mean(a.argmax(1) == y) - np.mean(b.argmax(1) == y))
    assert d.ci_low == pytest.approx(np.percentile(diffs, 2.5))
    assert d.ci_high == pytest.approx(np.percentile(diffs, 97.5))
    assert d.p_not_better == pytest.approx(np.mean(np.array(diffs) <= 0))
    assert d.n_test == 60 and d.n_boot == 200


def test_identical_probes_tie_and_a_perfect_probe_wins():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 4, 100)
    chance = rng.normal(size=(100, 4))
    same = paired_bootstrap(acc, y, chance, chance.copy())
    assert (same.diff, same.ci_low, same.ci_high, same.p_not_better) == (0, 0, 0, 1)
    perfect = np.eye(4)[y]
    win = paired_bootstrap(acc, y, perfect, chance)
    assert win.ci_low > 0.5 and win.p_not_better == 0


def test_mismatched_rows_fail_clearly():
    with pytest.raises(ValueError, match="same test clips"):
        paired_bootstrap(acc, np.zeros(5, int), np.zeros((5, 2)), np.zeros((4, 2)))
    with pytest.raises(ValueError, match="no test clips"):
        paired_bootstrap(acc, np.zeros(0, int), np.zeros((0, 2)), np.zeros((0, 2)))


def test_probe_run_compares_a_checkpoint_with_its_twin(tmp_path, one_thread):
    sr, rng = 16000, np.random.default_rng(0)
    rows = []
    for i in range(36):
        f0 = (220.0, 330.0, 440.0)[i % 3]
        t = np.arange(sr) / sr
        wav = 0.2 * np.sin(2 * np.pi * f0 * t) + 0.01 * rng.normal(size=sr)
        sf.write(tmp_path / f"c{i}.wav", wav.astype(np.float32), sr)
        rows.append({"path": f"c{i}.wav", "split": ("train", "train", "valid", "test")[i % 4],
                     "work_id": f"w{i}", "label": f"f{f0:.0f}"})
    pd.DataFrame(rows).to_parquet(tmp_path / "pitchclass.parquet")
    task = load_task(tmp_path / "pitchclass.parquet")
    # a "trained" checkpoint: the tiny preset with perturbed weights
    cfg = presets()["tiny-square"]
    model = get_encoder("myna:tiny-square", device="cpu")
    torch.manual_seed(1)
    sd = {k: v + 0.05 * torch.randn_like(v) if v.is_floating_point() else v
          for k, v in model.state_dict().items()}
    ckpt = save_checkpoint(tmp_path / "ckpt", sd, kind="myna", preset="tiny-square",
                           config=config_to_dict(cfg), mel=config_to_dict(cfg.mel))
    run = run_probe([str(ckpt)], [task], ProbeOptions(grid="marble", layers=False, max_epochs=4,
                                                        tsne_points=0))
    (cmp,) = run.comparisons
    assert cmp["encoder"] == str(ckpt) and cmp["baseline"] == "myna:tiny-square (random init)"
    score = {r["extractor"]: r["score"] for r in run.rows}
    assert cmp["diff"] == pytest.approx(score[str(ckpt)] - score[cmp["baseline"]])
    assert cmp["ci_low"] <= cmp["ci_high"] and cmp["n_test"] == 9
    write_report(run, tmp_path / "rep")
    assert "random-init twin (paired bootstrap)" in (tmp_path / "rep" / "report.md").read_text()
    assert json.loads((tmp_path / "rep" / "results.json").read_text())["comparisons"] == [cmp]
