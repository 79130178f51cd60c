"""Zero-shot MagnaTagATune: the shipped split, and 'lyrebird eval zeroshot-mtt' on a tiny copy
in MTT's on-disk layout (folders 0-f of mp3 clips, named as in the split lists)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from click.testing import CliRunner
from sklearn.metrics import average_precision_score, roc_auc_score

from lyrebird.cli import main
from lyrebird.encoders import load_audio
from lyrebird.mulan import AudioTowerConfig, MuLan, MuLanConfig, TextTowerConfig, mtt_top50
from lyrebird.mulan.evaluate import find_mtt_audio
from lyrebird.mulan.vocabulary import mtt_test_split

SHARED = Path(__file__).resolve().parents[2] / "shared" / "mtt"


def test_shipped_split_and_vocabulary():
    paths, y = mtt_test_split()
    assert len(paths) == 4332 and y.shape == (4332, 50)
    assert y.any(1).all()  # every clip has a top-50 tag
    assert paths[0].startswith("d/") and paths[0].endswith(".mp3")
    tags = mtt_top50()
    assert tags[:3] == ("guitar", "classical", "slow") and tags[-1] == "choral"
    assert y.sum(0).min() > 0


@pytest.mark.skipif(not (SHARED / "jongpillee_test_labels.tsv").is_file(),
                    reason="shared MTT split lists not beside the repo")
def test_shipped_labels_match_the_source_by_name():
    import pandas as pd

    src = pd.read_csv(SHARED / "jongpillee_test_labels.tsv", sep="\t")
    paths, y = mtt_test_split()
    assert list(src["path"]) == paths
    tags = mtt_top50()
    for name, camel in (("female voice", "femaleVoice"), ("metal", "metal"),
                        ("no vocals", "noVocals"), ("guitar", "guitar")):
        assert (src[camel].to_numpy() == 1).tolist() == y[:, tags.index(name)].tolist()


@pytest.fixture(scope="module")
def mtt_dir(tmp_path_factory) -> tuple[Path, list[int]]:
    """Six test clips (3 s of distinct sounds each) as mp3 under DIR/<folder>/<name>.mp3."""
    d = tmp_path_factory.mktemp("mtt")
    paths, y = mtt_test_split()
    pick = [0, 1, 2, *[i for i in range(3, len(paths)) if y[i, 0]][:3]]  # some guitar clips
    sr = 16000
    rng = np.random.default_rng(0)
    t = np.arange(3 * sr) / sr
    for k, i in enumerate(pick):
        p = d / paths[i]
        p.parent.mkdir(parents=True, exist_ok=True)
        x = 0.3 * np.sin(2 * np.pi * (200 + 150 * k) * t) + 0.05 * rng.standard_normal(len(t))
        sf.write(p, x.astype(np.float32), sr, format="MP3")
    (d / "annotations_final.csv").write_text('"clip_id"\t"mp3_path"\n')
    return d, pick


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    cfg = MuLanConfig(audio=AudioTowerConfig(encoder="myna:tiny-hybrid", window_s=2.0),
                      text=TextTowerConfig(backbone="random-bert:tiny", n_layers=1, heads=2),
                      dim=32)
    return MuLan(cfg).save(tmp_path_factory.mktemp("m") / "model")


def test_zeroshot_mtt_cli_matches_direct_computation(mtt_dir, tiny_model):
    d, pick = mtt_dir
    res = CliRunner().invoke(main, ["eval", "zeroshot-mtt", "--mtt-dir", str(d), "--model",
                                    str(tiny_model), "--json"])
    assert res.exit_code == 0, res.output
    rep = json.loads(res.stdout)
    assert rep["clips_found"] == 6 and rep["clips_missing"] == 4332 - 6
    assert rep["templates"] == ["A {} track"]
    paths, y = mtt_test_split()
    m = MuLan.load(str(tiny_model))
    a = torch.stack([m.embed_audio(load_audio(find_mtt_audio(d, paths[i]), 16000), 16000)
                     for i in pick])
    prompts = m.embed_text([f"A {t} track" for t in mtt_top50()])
    s = (a @ prompts.T).numpy()
    yy = y[pick]
    cols = [k for k in range(50) if 0 < yy[:, k].sum() < len(pick)]
    assert rep["tags_evaluated"] == len(cols) > 0
    assert rep["roc_auc"] == pytest.approx(
        np.mean([roc_auc_score(yy[:, k], s[:, k]) for k in cols]), abs=1e-4)
    assert rep["pr_auc"] == pytest.approx(
        np.mean([average_precision_score(yy[:, k], s[:, k]) for k in cols]), abs=1e-4)


def test_zeroshot_mtt_finds_mp3_subfolder_and_reports_missing(tmp_path, mtt_dir, tiny_model):
    d, _ = mtt_dir
    import shutil

    shutil.copytree(d, tmp_path / "mp3")
    paths, _ = mtt_test_split()
    assert find_mtt_audio(tmp_path, paths[0]) == tmp_path / "mp3" / paths[0]
    empty = tmp_path / "empty"
    empty.mkdir()
    res = CliRunner().invoke(main, ["eval", "zeroshot-mtt", "--mtt-dir", str(empty), "--model",
                                    str(tiny_model)])
    assert res.exit_code != 0 and "none of the 4332" in res.output
