"""Mel front-ends against librosa (an independent implementation), plus determinism."""

from __future__ import annotations

import dataclasses

import librosa
import numpy as np
import pytest
import torch

from lyrebird.encoders import MEL_PRESETS, MelConfig, MelFrontend, fit_normalization, get_mel_config


def music(sr: int, seconds: float, seed: int = 0) -> np.ndarray:
    """Chords, a sweep and noise: energy across the whole spectrum."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(sr * seconds)) / sr
    x = sum(0.15 * np.sin(2 * np.pi * f * t) for f in (110.0, 261.6, 329.6, 1046.5, 4186.0))
    x += 0.1 * np.sin(2 * np.pi * (50 * t + 0.5 * (sr / 2.5) * t**2 / seconds))
    return (x + 0.02 * rng.standard_normal(len(t))).astype(np.float32)


def librosa_power(cfg: MelConfig, y: np.ndarray) -> np.ndarray:
    return librosa.feature.melspectrogram(
        y=y.astype(np.float64), sr=cfg.sample_rate, n_fft=cfg.n_fft, hop_length=cfg.hop_length,
        win_length=cfg.win_length, window="hann", center=cfg.center, pad_mode=cfg.pad_mode,
        power=cfg.power, n_mels=cfg.n_mels, fmin=cfg.fmin, fmax=cfg.fmax, htk=cfg.htk,
        norm="slaney" if cfg.slaney_norm else None)


@pytest.mark.parametrize("preset", sorted(MEL_PRESETS))
@pytest.mark.parametrize("stft", ["torch", "nnaudio"])
def test_power_mel_matches_librosa(preset, stft):
    cfg = MEL_PRESETS[preset]
    y = music(cfg.sample_rate, 3.0)
    ref = librosa_power(cfg, y)
    with torch.inference_mode():
        got = MelFrontend(cfg, stft=stft).mel_power(torch.from_numpy(y)[None])[0].double().numpy()
    assert got.shape == ref.shape
    rel = np.linalg.norm(got - ref) / np.linalg.norm(ref)
    assert rel <= 1e-4, rel
    big = ref > 1e-3 * ref.max()  # elementwise, wherever the value is not vanishing
    assert np.max(np.abs(got[big] - ref[big]) / ref[big]) <= 1e-3


def test_myna_preset_full_pipeline_matches_librosa_log_mel():
    cfg = MEL_PRESETS["myna"]
    assert (cfg.sample_rate, cfg.n_fft, cfg.hop_length, cfg.n_mels, cfg.htk) == (16000, 2048, 512, 128, False)
    y = music(16000, 4.0, seed=3)
    ref = np.log(librosa_power(cfg, y) + cfg.log_eps)
    with torch.inference_mode():
        got = MelFrontend("myna")(torch.from_numpy(y))[0].numpy()
    assert got.shape == (128, 1 + len(y) // 512)
    np.testing.assert_allclose(got, ref, atol=2e-3)
    assert cfg.frame_rate == pytest.approx(31.25)


def test_muq_preset_db_normalise_and_stack_match_a_direct_computation():
    cfg = MEL_PRESETS["muq"]
    assert (cfg.sample_rate, cfg.hop_length, cfg.htk, cfg.stack) == (24000, 240, True, 4)
    y = music(24000, 2.0, seed=4)
    db = librosa.power_to_db(librosa_power(cfg, y), ref=1.0, amin=1e-10, top_db=None)
    mean, std = cfg.normalize
    z = (db - mean) / std  # (128, 201)
    t2 = z.shape[1] // 4
    ref = np.concatenate([z[:, k : 4 * t2 : 4] for k in range(4)], axis=0)  # (512, 50)
    with torch.inference_mode():
        got = MelFrontend("muq")(torch.from_numpy(y))[0].numpy()
    assert got.shape == (512, 50) == ref.shape
    np.testing.assert_allclose(got, ref, atol=2e-3)
    assert cfg.frame_rate == pytest.approx(25.0) and cfg.num_features == 512


@pytest.mark.parametrize("preset", sorted(MEL_PRESETS))
def test_deterministic_and_batch_invariant(preset):
    cfg = MEL_PRESETS[preset]
    batch = torch.from_numpy(np.stack([music(cfg.sample_rate, 2.0, seed=s) for s in range(5)]))
    fe = MelFrontend(cfg)
    with torch.inference_mode():
        a, b = fe(batch), fe(batch)
        torch.testing.assert_close(a, b, rtol=0, atol=0)
        for i in range(5):
            torch.testing.assert_close(fe(batch[i])[0], a[i], rtol=0, atol=1e-5)


@pytest.mark.parametrize("preset", sorted(MEL_PRESETS))
def test_num_frames_predicts_output_length(preset):
    cfg = MEL_PRESETS[preset]
    fe = MelFrontend(cfg)
    for n in (cfg.n_fft, 12345, 3 * cfg.sample_rate + 17):
        with torch.inference_mode():
            assert fe(torch.zeros(n) + 0.01).shape[-1] == cfg.num_frames(n)


def test_config_round_trip_and_validation():
    for cfg in MEL_PRESETS.values():
        assert MelConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ValueError, match="unknown field"):
        MelConfig.from_dict({"sample_rate": 16000, "hopp": 3})
    with pytest.raises(ValueError, match="compression"):
        MelConfig(compression="sqrt")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown mel preset"):
        get_mel_config("mert")
    with pytest.raises(ValueError, match="too short"):
        MelFrontend("myna")(torch.zeros(100))
    with pytest.raises(dataclasses.FrozenInstanceError):
        MEL_PRESETS["myna"].n_mels = 64  # type: ignore[misc]


def test_fit_normalization_standardises_features():
    cfg = dataclasses.replace(MEL_PRESETS["muq"], normalize=None, stack=1)
    waves = [torch.from_numpy(music(24000, 1.0, seed=s)) for s in range(3)]
    mean, std = fit_normalization(MelFrontend(cfg), waves)
    fe = MelFrontend(dataclasses.replace(cfg, normalize=(mean, std)))
    with torch.inference_mode():
        z = torch.cat([fe(w).flatten() for w in waves]).double()
    assert abs(z.mean().item()) < 1e-3 and abs(z.std().item() - 1) < 1e-2
