"""End-to-end: tiny MuQ-family pretraining, tokenizer fitting, iterative refinement, CLI, bench."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import torch
from click.testing import CliRunner

from lyrebird.cli import main
from lyrebird.core.checkpoint import read_config
from lyrebird.encoders import get_encoder
from lyrebird.encoders.muq import muq_config
from lyrebird.encoders.tokenizer_io import load_tokenizer

SR = 24000


pytestmark = pytest.mark.usefixtures("one_thread")


def melody(seed: int, seconds: float) -> np.ndarray:
    """Sustained harmonic notes of 2–4 s from a scale: most masked spans (runs of ~1 s at
    p = 0.6) lie inside a note that is visible around them, so a model that uses context beats
    the majority-token baseline by far."""
    rng = np.random.default_rng(seed)
    y = np.zeros(int(seconds * SR), np.float32)
    scale = 220 * 2 ** (np.array([0, 2, 4, 5, 7, 9, 11, 12]) / 12)
    t0 = 0
    while t0 < len(y):
        dur = int(rng.uniform(2.0, 4.0) * SR)
        f = rng.choice(scale)
        t = np.arange(dur) / SR
        ks = np.arange(1, int(SR / 2 / f))  # sawtooth-like: harmonics up to Nyquist, so every
        note = 0.2 * (np.sin(2 * np.pi * f * np.outer(t, ks)) / ks).sum(1)  # mel band has a tone
        n = min(dur, len(y) - t0)
        y[t0 : t0 + n] = note[:n]
        t0 += dur
    return y + 1e-4 * rng.standard_normal(len(y)).astype(np.float32)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    d = tmp_path_factory.mktemp("muq_corpus")
    rows = []
    for i in range(18):
        sf.write(d / f"m{i:02d}.wav", melody(i, 12.0), SR)
        rows.append({"path": str(d / f"m{i:02d}.wav"), "split": "valid" if i >= 12 else "train"})
    pd.DataFrame(rows).to_csv(d.parent / "muq_manifest.csv", index=False)
    return d


@pytest.fixture(scope="module")
def manifest(corpus):
    """The corpus as a manifest: 12 training and 6 validation files."""
    return corpus.parent / "muq_manifest.csv"


@pytest.fixture(scope="module")
def trained(manifest, tmp_path_factory):
    """A tiny OMAR-RQ-like model (random-projection targets, 2 codebooks of 64) trained for
    120 steps; returns the run directory."""
    from lyrebird.train.trainers.common import RunConfig
    from lyrebird.train.trainers.muq_module import train_muq

    out = tmp_path_factory.mktemp("run")
    cfg = muq_config("omar-tiny", codebook_size=64, num_codebooks=2, clip_s=4.0)
    run = RunConfig(max_steps=120, batch_size=8, lr=3e-3, warmup_steps=10, val_every=120,
                    ckpt_every=120, accelerator="cpu", devices=1, weight_decay=0.0)
    train_muq(manifest, out, cfg, run, preset="omar-tiny")
    return out


def test_tiny_training_learns_above_chance(trained):
    from lyrebird.train.trainers.common import read_curve

    curve = read_curve(trained)
    loss = curve["train_loss"].dropna().to_numpy()
    # the masked-token loss goes down: from ln(64) ≈ 4.16 for uniform logits at step 0, and
    # between the first logged step (10) and the last ones
    assert loss[-3:].mean() < loss[0] - 0.15 and loss[-3:].mean() < np.log(64) - 0.4
    val_acc = float(curve["val_acc"].dropna().iloc[-1])
    val_chance = float(curve["val_chance"].dropna().iloc[-1])
    print(f"val_acc {val_acc:.3f} val_chance {val_chance:.3f} loss {loss[0]:.3f} -> {loss[-1]:.3f}")
    assert val_acc > val_chance + 0.15, (val_acc, val_chance)  # beats the majority token
    assert val_acc > 3 / 64  # and uniform guessing by far
    # the frozen tokenizer got its input statistics, stored beside the run
    tok = load_tokenizer(trained / "tokenizer")
    assert tok.cfg.kind == "random" and float(tok.std.min()) > 0 and float(tok.mean.abs().max()) > 0
    assert (trained / "tokenizer" / "report.json").is_file()


def test_export_loads_and_embeds(trained):
    meta = read_config(trained / "model")
    assert meta["kind"] == "muq" and meta["preset"] == "omar-tiny" and meta["steps"] == 120
    assert "val_acc" in meta["final"] and meta["config"]["tokenizer"]["codebook_size"] == 64
    enc = get_encoder(trained / "model", device="cpu")
    wav = melody(99, 9.0)
    assert enc.embed(wav, SR).shape == (64,)
    assert abs(enc.embed_frames(wav, SR).shape[0] - 9 * 25) <= 2
    assert (trained / "checkpoints" / "last.ckpt").is_file()
    assert (trained / "training_curve.png").is_file()


@pytest.fixture
def trained_copy(trained, tmp_path):
    """A private copy of the trained run, for a test that trains it further."""
    import shutil

    return shutil.copytree(trained, tmp_path / "run")


def test_resume_continues_from_the_checkpoint(trained_copy, manifest):
    from lyrebird.train.trainers.common import RunConfig
    from lyrebird.train.trainers.muq_module import train_muq

    cfg = muq_config("omar-tiny", codebook_size=64, num_codebooks=2, clip_s=4.0)
    run = RunConfig(max_steps=125, batch_size=8, lr=3e-3, warmup_steps=10, val_every=1000,
                    ckpt_every=1000, accelerator="cpu", devices=1, weight_decay=0.0)
    train_muq(manifest, trained_copy, cfg, run, preset="omar-tiny")
    assert read_config(trained_copy / "model")["steps"] == 125  # 120 restored + 5 new


def test_train_melrvq_cli_reports_utilisation(corpus, manifest, tmp_path):
    # two sources (a folder and a manifest) are pooled
    res = CliRunner().invoke(main, ["train", "melrvq", "--data", str(corpus), "--data",
                                    str(manifest), "--out",
                                    str(tmp_path / "rvq"), "--set", "num_codebooks=3",
                                    "--set", "codebook_size=32", "--steps", "60",
                                    "--batch-frames", "1024", "--set", "restart_every=20",
                                    "--json"])
    assert res.exit_code == 0, res.output
    rep = json.loads(res.output[res.output.index("{"):])
    h = rep["heldout"]
    assert len(h["utilisation"]) == 3 and all(0 < u <= 1 for u in h["utilisation"])
    assert all(1 <= p <= 32 for p in h["perplexity"]) and h["frames"] > 1000
    assert set(rep["final_loss"]) >= {"loss", "code", "commit", "recon"}
    tok = load_tokenizer(tmp_path / "rvq")
    assert tok.cfg.kind == "melrvq" and tok.encode(torch.randn(40, 512)).shape == (40, 3)


def test_iterative_refinement_tokenizer_from_trained_model(trained, corpus, manifest, tmp_path):
    res = CliRunner().invoke(main, ["train", "melrvq", "--data", str(corpus), "--out",
                                    str(tmp_path / "iter"), "--set", "num_codebooks=2",
                                    "--set", "codebook_size=16", "--steps", "20",
                                    "--batch-frames", "500", "--encoder",
                                    str(trained / "model"), "--layer", "1", "--json"])
    assert res.exit_code == 0, res.output
    tok = load_tokenizer(tmp_path / "iter")
    assert tok.cfg.kind == "iter" and tok.cfg.layer == 1
    enc = get_encoder(trained / "model", device="cpu")
    x = enc.features(torch.from_numpy(melody(5, 4.0))[None])
    # the tokenizer quantizes the trained model's layer-1 states
    assert torch.allclose(tok.latents(x), enc.encode_features(x, hidden=True).hidden_states[1],
                          atol=1e-5)
    assert tok.encode(x).shape == (1, x.shape[1], 2)
    # ... and the next model trains on those tokens (MuQ_iter)
    from lyrebird.train.trainers.common import RunConfig
    from lyrebird.train.trainers.muq_module import train_muq

    cfg = muq_config("muq-tiny", clip_s=4.0)
    cfg = dataclasses.replace(cfg, tokenizer=dataclasses.replace(tok.cfg, path=str(tmp_path / "iter")))
    run = RunConfig(max_steps=3, batch_size=4, warmup_steps=1, val_every=3, ckpt_every=3,
                    accelerator="cpu", devices=1)
    export = train_muq([manifest, corpus], tmp_path / "next", cfg, run, preset="muq-tiny")
    meta = read_config(export)
    assert meta["clips"]["train"] == 12 + 17  # the manifest's train split + 95 % of the folder
    assert meta["steps"] == 3 and meta["config"]["tokenizer"]["kind"] == "iter"
    assert get_encoder(export, device="cpu").heads.out_features == 2 * 16


def test_bench_muq_smoke():
    res = CliRunner().invoke(main, ["bench", "muq", "--size", "tiny", "--depth", "1",
                                    "--seconds", "4", "--seconds", "16", "--clip-s", "2",
                                    "--batch", "1", "--repeats", "1", "--no-memory", "--json"])
    assert res.exit_code == 0, res.output
    rep = json.loads(res.output)
    rows = rep["scaling"]["rows"]
    assert [r["frames"] for r in rows] == [100, 400]
    assert set(rows[1]["time_exponent"]) == {"mhsa", "mhsa-math", "summary"}
    res_t = rep["throughput"]["results"]
    assert {"lyrebird Conformer", "HF Wav2Vec2ConformerEncoder"} <= set(res_t)
    assert all(r["seconds"] > 0 for r in res_t.values())
    from lyrebird.bench.muq import peak_memory
    from lyrebird.encoders.backbone import BackboneConfig

    tiny = BackboneConfig(dim=32, depth=1, heads=2, ffn_dim=64, kernel=7, dropout=0.0)
    assert peak_memory(tiny, 400, torch.device("cpu")) > 0  # measured in a fresh process
    p = rep["throughput"]["params"]
    assert abs(p["lyrebird Conformer"] - p["HF Wav2Vec2ConformerEncoder"]) < 0.01 * p["lyrebird Conformer"]
