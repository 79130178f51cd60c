"""MuLan audio head options (mean+std pooling, LayerNorm, MLP projection, dropout): shapes,
the pooling maths, checkpoint round trips, old configs, determinism, and the feature cache."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

from lyrebird.core.configs import config_from_dict
from lyrebird.mulan import AudioTowerConfig, MuLan, MuLanConfig, TextTowerConfig
from lyrebird.mulan.towers import masked_mean_std

SR = 16000
HEAD = dict(pooling="meanstd", head_norm=True, head_hidden=24, head_dropout=0.3)


def config(**audio) -> MuLanConfig:
    a = dict(encoder="myna:tiny-hybrid", n_layers=0, window_s=2.0) | audio
    return MuLanConfig(audio=AudioTowerConfig(**a),
                       text=TextTowerConfig(backbone="random-bert:tiny", n_layers=0), dim=16)


def noise(seconds: float, seed: int = 0) -> np.ndarray:
    return (0.1 * np.random.default_rng(seed).standard_normal(int(seconds * SR))
            ).astype(np.float32)


@pytest.fixture(scope="module")
def model() -> MuLan:
    torch.manual_seed(0)
    return MuLan(config(**HEAD)).eval()


def test_masked_mean_std_matches_numpy():
    x = torch.randn(2, 5, 3)
    mask = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], dtype=torch.bool)
    got = masked_mean_std(x, mask, eps=0.0).numpy()
    for b, n in enumerate((3, 5)):
        v = x[b, :n].numpy()
        np.testing.assert_allclose(got[b], np.concatenate([v.mean(0), v.std(0)]), atol=1e-5)
    one = masked_mean_std(x, torch.tensor([[1, 0, 0, 0, 0]] * 2, dtype=torch.bool), eps=1e-4)
    assert torch.allclose(one[:, 3:], torch.full((2, 3), 1e-2))  # one frame: std = sqrt(eps)


def test_head_shapes_and_modules(model):
    tower = model.audio
    assert tower.pooled_dim == 2 * tower.feat_dim
    assert isinstance(tower.norm, torch.nn.LayerNorm)
    assert isinstance(tower.proj, torch.nn.Sequential) and tower.proj[0].out_features == 24
    f, m = tower.frames(torch.from_numpy(np.stack([noise(2.0), noise(2.0, 1)])))
    assert tower.pool(f, m).shape == (2, tower.pooled_dim)
    assert tower.head(f, m).shape == (2, 16)
    # pooled (cached) features give the same embedding as frames
    assert torch.allclose(tower.head(tower.pool(f, m)), tower.head(f, m), atol=1e-5)
    e = model.embed_audio_batch([noise(1.3), noise(3.1, 2)], SR)
    assert e.shape == (2, 16) and torch.allclose(e.norm(dim=1), torch.ones(2), atol=1e-5)


def test_default_head_is_the_old_linear_projection():
    torch.manual_seed(0)
    tower = MuLan(config()).audio
    assert tower.pooled_dim == tower.feat_dim and tower.norm is None
    assert isinstance(tower.proj, torch.nn.Linear)
    old = {"encoder": "default", "layers": [-1], "layer_mode": "mean", "n_layers": 0,
           "heads": 8, "window_s": 10.0, "train_encoder": False, "encoder_fingerprint": "x"}
    cfg = config_from_dict(AudioTowerConfig, old)  # a config.json from before these fields
    assert (cfg.pooling, cfg.head_norm, cfg.head_hidden, cfg.head_dropout) == \
        ("mean", False, 0, 0.0)


def test_dropout_only_in_training_and_deterministic(model):
    x = torch.randn(4, model.audio.pooled_dim)
    assert torch.equal(model.audio.project(x), model.audio.project(x))  # eval: no dropout
    model.audio.train()
    try:
        torch.manual_seed(1)
        a = model.audio.project(x)
        torch.manual_seed(1)
        b = model.audio.project(x)
        assert torch.equal(a, b) and not torch.allclose(a, model.audio.eval().project(x))
    finally:
        model.eval()
    torch.manual_seed(0)
    again = MuLan(config(**HEAD)).eval()
    assert all(torch.equal(v, again.state_dict()[k])
               for k, v in model.trained_state_dict().items())


def test_save_load_round_trip(model, tmp_path):
    model.save(tmp_path / "m")
    meta = json.loads((tmp_path / "m" / "config.json").read_text())
    assert {k: meta["config"]["audio"][k] for k in HEAD} == HEAD
    back = MuLan.load(str(tmp_path / "m"))
    assert back.cfg == model.cfg
    wav = noise(2.7, 3)
    assert torch.allclose(back.embed_audio(wav, SR), model.embed_audio(wav, SR), atol=1e-6)


@pytest.mark.parametrize("bad", [dict(pooling="max"), dict(head_hidden=-1),
                                 dict(head_dropout=1.0)])
def test_invalid_head_options(bad):
    with pytest.raises(ValueError, match="pooling|head_"):
        config(**bad)


def test_feature_cache_stores_pooled_mean_std(model, tmp_path):
    import soundfile as sf

    from lyrebird.train.trainers.mulan_data import build_feature_cache

    paths = []
    for i in range(3):
        p = tmp_path / f"c{i}.wav"
        sf.write(p, noise(2.0 if i else 1.2, i), SR)
        paths.append(str(p))
    items = pd.DataFrame({"path": paths, "offset_s": 0.0, "dur_s": [1.2, 2.0, 2.0]})
    texts = pd.DataFrame({"text": ["a", "b"]})
    feats = build_feature_cache(model, items, texts, tmp_path / "a", tmp_path / "t", batch=2)
    rag = feats["audio"]
    assert len(rag) == 3 and rag.dim == model.audio.pooled_dim
    wav = np.stack([np.pad(noise(1.2, 0), (0, int(0.8 * SR))), noise(2.0, 1)])
    f, m = model.audio.frames(torch.from_numpy(wav), torch.tensor([int(1.2 * SR), 2 * SR]))
    want = model.audio.pool(f, m).numpy()
    np.testing.assert_allclose(np.stack([rag[0][0], rag[1][0]]), want, rtol=1e-2, atol=1e-2)
