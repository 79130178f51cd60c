"""``lyrebird probe`` end to end on tiny generated tasks: report files, baselines, layers, bad
tasks skipped and reported."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from click.testing import CliRunner

from lyrebird.cli import main
from lyrebird.encoders import get_encoder
from lyrebird.encoders.embedding import EncoderEmbedding
from lyrebird.train.probes.features import random_init_name
from lyrebird.train.probes.run import make_extractors

SR = 16000
KEYS = {"C major": 261.63, "A minor": 220.0, "G major": 392.0}


@pytest.fixture(scope="module")
def probes(tmp_path_factory):
    d = tmp_path_factory.mktemp("probes")
    rng = np.random.default_rng(0)
    rows = []
    for i in range(36):
        key = list(KEYS)[i % 3]
        t = np.arange(SR) / SR
        wav = 0.2 * np.sin(2 * np.pi * KEYS[key] * (1 + 0.002 * i) * t) + 0.01 * rng.normal(size=SR)
        sf.write(d / f"c{i}.wav", wav.astype(np.float32), SR)
        rows.append({"path": f"c{i}.wav", "start_s": 0.0, "end_s": 1.0,
                     "split": ("train", "train", "train", "train", "valid", "test")[i % 6],
                     "work_id": f"w{i}", "label": key})
    df = pd.DataFrame(rows)
    df.to_parquet(d / "key.parquet")
    df.assign(label=[KEYS[k] for k in df["label"]]).to_parquet(d / "tempo.parquet")
    df.drop(columns="label").assign(labels=[[k.split()[1]] for k in df["label"]]).to_parquet(
        d / "tagging.parquet")
    df.drop(columns="split").to_parquet(d / "broken.parquet")
    return d


def test_probe_writes_a_self_contained_report(probes, tmp_path, one_thread):
    out = tmp_path / "rep"
    res = CliRunner().invoke(main, [
        "probe", "--encoder", "myna:tiny-square", "--tasks", "key,tempo,tagging,broken",
        "--probes-dir", str(probes), "--out", str(out), "--grid", "marble", "--max-epochs", "8",
        "--json"])
    assert res.exit_code == 0, res.output
    js = json.loads(res.output[res.output.index("{"):])
    assert any("broken.parquet" in e and "'split'" in e for e in js["errors"])  # skipped, named
    got = {(r["extractor"], r["task"]) for r in js["results"]}
    assert ("chroma", "key") in got and ("chroma", "tempo") not in got
    assert {("myna:tiny-square", t) for t in ("key", "tempo", "tagging")} <= got
    assert {("logmel", "tagging"), ("mfcc", "tempo")} <= got
    for f in ("report.md", "report.html", "results.csv", "results.json"):
        assert (out / f).is_file()
    md = (out / "report.md").read_text()
    assert "## Summary" in md and "Layer-wise" in md and "total time" in md
    html = (out / "report.html").read_text()
    assert html.count("data:image/png;base64,") >= 5
    assert not re.search(r"""src=["'](https?:|plots/)""", html)  # nothing external
    full = json.loads((out / "results.json").read_text())
    assert {r["layer"] for r in full["layers"] if r["task"] == "key"} == {0, 1, 2}
    assert full["hardware"]["cores"] >= 1
    csv = pd.read_csv(out / "results.csv")
    chroma_key = csv[(csv.extractor == "chroma") & (csv.task == "key")].iloc[0]
    assert chroma_key["metric"] == "key_weighted" and chroma_key["score"] > 0.6
    # second run: features come from the cache
    res2 = CliRunner().invoke(main, [
        "probe", "--encoder", "myna:tiny-square", "--tasks", "key", "--probes-dir", str(probes),
        "--out", str(out), "--grid", "marble", "--max-epochs", "2", "--no-layers", "--json"])
    assert res2.exit_code == 0, res2.output
    rows = json.loads((out / "results.json").read_text())["rows"]
    assert all(r["cached"] for r in rows)


def test_unknown_encoder_and_no_tasks_are_clear_errors(probes, tmp_path):
    res = CliRunner().invoke(main, ["probe", "--encoder", "nope:x", "--tasks", "key",
                                    "--probes-dir", str(probes), "--out", str(tmp_path)])
    assert res.exit_code != 0 and "unknown encoder" in res.output
    res = CliRunner().invoke(main, ["probe", "--encoder", "myna:tiny-square", "--tasks", "broken",
                                    "--probes-dir", str(probes), "--out", str(tmp_path)])
    assert res.exit_code != 0 and "no usable task" in res.output and "broken.parquet" in res.output
    # --unseen-by: a pretraining manifest holding every test work leaves nothing to test on
    pre = pd.read_parquet(probes / "key.parquet").assign(split="train")
    pre.to_parquet(tmp_path / "pretrain.parquet")
    res = CliRunner().invoke(main, ["probe", "--encoder", "myna:tiny-square", "--tasks", "key",
                                    "--probes-dir", str(probes), "--out", str(tmp_path),
                                    "--unseen-by", str(tmp_path / "pretrain.parquet")])
    assert res.exit_code != 0 and "every test work was seen in pretraining" in res.output


def test_random_init_twin_of_the_shipped_encoder():
    assert random_init_name("default") == "myna:small-hybrid"
    assert random_init_name("myna:tiny-square") == "myna:tiny-square"
    exs = make_extractors(["default"], baselines=True)
    roles = [(ex.name, role) for ex, role in exs]
    assert roles[:2] == [("default", "encoder"), ("myna:small-hybrid (random init)", "random-init")]
    assert exs[0][0].fingerprint() != exs[1][0].fingerprint()
    assert exs[0][0].encoder.DIM == exs[1][0].encoder.DIM
    assert [n for n, r in roles if r == "hand-crafted"] == ["logmel", "mfcc", "chroma"]
    # a hybrid model's embedding mode changes its features, so it changes the cache key
    enc = get_encoder("myna:tiny-hybrid", device="cpu")
    concat = EncoderEmbedding(enc, "myna:tiny-hybrid").fingerprint()
    enc.set_embed_mode("vertical")
    assert EncoderEmbedding(enc, "myna:tiny-hybrid").fingerprint() != concat
