"""MuLan training on several corpora with the teacher's auxiliary loss: window placement,
teacher targets, one text table across manifests, and a probe that learns the targets."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from mulan_corpus import make_corpus
from test_mulan_train import CFG, run_config

from lyrebird.mulan.vocabulary import mtt_top50
from lyrebird.train.corpora.manifest import read_manifest, write_manifest
from lyrebird.train.trainers.common import read_curve
from lyrebird.train.trainers.mulan_data import (
    MuLanDataConfig,
    teacher_targets,
    window_offsets,
)
from lyrebird.train.trainers.mulan_module import train_mulan


def test_windows_back_to_back_when_they_fit_else_spread_to_the_end():
    assert window_offsets(5.0, 25.0, 10.0, 6) == [(5.0, 10.0), (15.0, 10.0), (25.0, 5.0)]
    spread = window_offsets(0.0, 300.0, 10.0, 6)
    assert [o for o, _ in spread] == [0.0, 58.0, 116.0, 174.0, 232.0, 290.0]
    assert all(d == 10.0 for _, d in spread) and spread[-1][0] + 10.0 == 300.0
    assert window_offsets(0.0, 3.0, 10.0, 6) == [(0.0, 3.0)]


def _probs(kind_tag: str) -> dict[str, float]:
    return {t: (0.9 if t == kind_tag else 0.05) for t in mtt_top50()}


def test_teacher_targets_follow_the_standard_tag_order():
    cell = json.dumps({"MTT_musicnn": {t.upper() if t == "rock" else t: p
                                       for t, p in _probs("rock").items()},
                       "MSD_musicnn": {"rock": 1.0}})
    y = teacher_targets(cell, "MTT_musicnn")
    assert y.shape == (50,) and y.dtype == np.float32
    assert y[list(mtt_top50()).index("rock")] == pytest.approx(0.9)
    assert teacher_targets(cell, "MSD_musicnn") is None  # not the MTT top-50
    assert teacher_targets(None, "MTT_musicnn") is None
    assert teacher_targets(float("nan"), "MTT_musicnn") is None
    assert teacher_targets(cell, None) is None


@pytest.fixture(scope="module")
def two_corpora(tmp_path_factory) -> tuple[Path, Path]:
    """The tiny corpus twice: once as is, once with teacher probabilities (a kind's tag)."""
    a = make_corpus(tmp_path_factory.mktemp("a"))
    b_root = tmp_path_factory.mktemp("b")
    b = make_corpus(b_root, seed=1)
    df = read_manifest(b)
    tag = {"low": "piano", "high": "synth", "noise": "drums"}
    df["teacher_probs"] = [json.dumps({"MTT_musicnn": _probs(tag[w.split("-")[0]])})
                           for w in df["work_id"]]
    write_manifest(pd.DataFrame(df), b)
    return a, b


def test_two_manifests_share_one_text_table_and_the_probe_learns(two_corpora, tmp_path):
    from lyrebird.core.configs import config_to_dict
    from lyrebird.train.trainers.mulan_data import load_sources
    from lyrebird.train.trainers.mulan_module import MuLanModule

    a, b = two_corpora
    data = MuLanDataConfig(teacher_weight=1.0)
    module = MuLanModule(config_to_dict(CFG), config_to_dict(run_config(1)), 1.0)
    items, texts, feats = load_sources([a, b], module.model, data, "fp", tmp_path / "c")
    # the same captions in both corpora: one id each (never each other's negatives)
    assert texts["text"].is_unique
    assert len(items) == 2 * len(items[items["source"] == str(a)])
    assert items["work"].str.startswith(("0:", "1:")).all()
    assert items.loc[items["source"] == str(a), "teacher"].isna().all()
    assert items.loc[items["source"] == str(b), "teacher"].notna().all()
    assert len(feats["audio"]) == len(items) and len(feats["text"]) == len(texts)
    # features of each row come from its own manifest's cache (the corpora differ in audio)
    first_b = int(np.flatnonzero(items["source"] == str(b))[0])
    assert not np.allclose(feats["audio"][0], feats["audio"][first_b])

    out = tmp_path / "run"
    export = train_mulan([a, b], out, CFG, run_config(40), data, cache_dir=tmp_path / "c")
    curve = read_curve(out)
    bce = curve["train_teacher_bce"].dropna().to_numpy()
    # oracle: the lowest reachable cross-entropy is the targets' own entropy
    y = np.array([p for p in _probs("rock").values()])
    floor = float(np.mean(-(y * np.log(y) + (1 - y) * np.log(1 - y))))
    assert len(bce) >= 4 and bce.min() >= floor - 1e-3
    assert bce[-2:].mean() - floor < 0.5 * (bce[:2].mean() - floor)  # most of the gap closed
    meta = json.loads((export / "config.json").read_text())
    assert meta["data"] == [str(a), str(b)]
    assert meta["data_config"]["teacher_weight"] == 1.0
    ck = torch.load(out / "checkpoints" / "last.ckpt", weights_only=True, map_location="cpu")
    assert any(k.startswith("teacher_head.") for k in ck["state_dict"])
    from safetensors import safe_open

    with safe_open(export / "model.safetensors", "pt") as f:  # the probe is not exported
        assert not any("teacher" in k for k in f.keys())


def test_without_teacher_weight_there_is_no_probe(two_corpora, tmp_path):
    _, b = two_corpora
    train_mulan([b], tmp_path / "r", CFG, run_config(3), MuLanDataConfig(),
                cache_dir=tmp_path / "c")
    assert "train_teacher_bce" not in read_curve(tmp_path / "r").columns
