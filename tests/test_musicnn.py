"""The musicnn teacher port against the original (TensorFlow) musicnn, without TensorFlow.

``tests/fixtures/musicnn_reference.npz`` holds three synthetic 16 kHz clips (int16) and the
original models' outputs on them (float16 cast removed), made by
``train/teachers/make_musicnn_fixture.py`` in a separate TensorFlow venv.
"""

from __future__ import annotations

import sys
from functools import cache
from pathlib import Path

import librosa
import numpy as np
import pytest
import torch

from lyrebird.encoders.musicnn_mel import (
    FrontendConfig,
    LogMelFrontend,
    float16_overflows,
    num_frames,
    slaney_mel_filterbank,
)
from lyrebird.train.teachers import TEACHERS, load_teacher

FIXTURE = Path(__file__).parent / "fixtures" / "musicnn_reference.npz"
SR = 16000
TOL = 1e-3  # max abs difference in tag probability (and penultimate features) vs the original


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Small batches run fastest on one thread (and do not fight a busy 2-core machine)."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@cache
def ref() -> dict[str, np.ndarray]:
    with np.load(FIXTURE) as d:
        return {k: d[k] for k in d.files}


def clip(i: int) -> np.ndarray:
    """Fixture clip ``i`` as float32, scaled like librosa.load reads 16-bit PCM."""
    return ref()[f"clip_{i}"].astype(np.float32) / 32768.0


def n_clips() -> int:
    return len(ref()["clip_names"])


@cache
def teacher(name: str, batch_size: int | None = None):
    return load_teacher(name, batch_size=batch_size)


def tones(sr: int, seconds: float = 6.0) -> np.ndarray:
    """Band-limited (< 4 kHz) amplitude-modulated tones at ``sr`` Hz, peak 0.8."""
    t = np.arange(int(sr * seconds)) / sr
    fs = (110.0, 220.0, 277.2, 329.6, 440.0, 1760.0, 3520.0)
    x = sum(np.sin(2 * np.pi * f * t) * (1 + 0.5 * np.sin(2 * np.pi * 2 * t + f)) for f in fs)
    return (0.8 * x / np.abs(x).max()).astype(np.float32)


def loud(seconds: float = 4.0) -> np.ndarray:
    """A full-scale chord with noise: ordinary loud music levels (peak ≈ 0.95)."""
    t = np.arange(int(SR * seconds)) / SR
    x = sum(np.sin(2 * np.pi * f * t) for f in (110.0, 220.0, 277.2, 329.6, 440.0))
    x = x + 0.3 * np.random.default_rng(0).standard_normal(len(t))
    return (0.95 * x / np.abs(x).max()).astype(np.float32)


def test_registry_lists_the_shipped_models_with_their_vocabularies():
    assert set(TEACHERS) == {"MTT_musicnn", "MSD_musicnn", "MTT_vgg", "MSD_vgg"}
    for name, info in TEACHERS.items():
        assert len(info["tags"]) == len(set(info["tags"])) == 50
        assert info["licence"] == "ISC"
        assert teacher(name).tags == info["tags"]
    assert TEACHERS["MTT_musicnn"]["tags"][:3] == ("guitar", "classical", "slow")
    assert TEACHERS["MSD_vgg"]["tags"][:3] == ("rock", "pop", "alternative")
    with pytest.raises(ValueError, match="unknown teacher"):
        load_teacher("MTT_resnet")


@pytest.mark.parametrize("name", sorted(TEACHERS))
def test_port_matches_the_original_per_window_and_per_track(name):
    t = teacher(name)
    for i in range(n_clips()):
        want = ref()[f"{name}__taggram_{i}"]
        got = t.predict_windows(clip(i), SR)
        assert got.shape == want.shape and got.dtype == np.float32
        assert np.abs(got - want).max() <= TOL, (name, i, np.abs(got - want).max())
        assert np.abs(t.predict(clip(i), SR) - want.mean(0)).max() <= TOL
        if f"{name}__penultimate_{i}" in ref():
            pen = ref()[f"{name}__penultimate_{i}"]
            assert np.abs(t.embed_windows(clip(i), SR) - pen).max() <= TOL
            assert t.embed(clip(i), SR).shape == (200,)
        else:
            assert t.embed(clip(i), SR).shape == (256,)
    assert "tensorflow" not in sys.modules


def test_overlapping_windows_match_the_original_input_overlap():
    want = ref()["MTT_musicnn__taggram_hop1s_0"]  # input_overlap=1.0 s -> 61-frame hop
    t = teacher("MTT_musicnn")
    assert t.hop_frames(1.0) == 61 and t.hop_frames(None) == 187
    got = t.predict_windows(clip(0), SR, hop_s=1.0)
    assert got.shape == want.shape
    assert np.abs(got - want).max() <= TOL


def test_tag_returns_every_tag_most_likely_first():
    t = teacher("MTT_musicnn")
    tags = t.tag(clip(0), SR)
    assert list(tags) == sorted(tags, key=tags.get, reverse=True) and len(tags) == 50
    assert next(iter(tags)) == "piano"  # the synthetic chords clip
    assert list(t.tag(clip(1), SR, top_k=2)) == ["techno", "electronic"]  # drums + saw bass


def test_mel_filterbank_equals_librosa():
    for fmax in (None, 6000.0):
        ours = slaney_mel_filterbank(SR, 512, 96, fmax=fmax)
        theirs = librosa.filters.mel(sr=SR, n_fft=512, n_mels=96, fmax=fmax)
        np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-9)


@pytest.mark.filterwarnings("ignore:n_fft=512 is too large")
@pytest.mark.parametrize("pad_mode", ["reflect", "constant"])
@pytest.mark.parametrize("n", [100, 256, 257, 4000, SR * 3 + 77])
def test_log_mel_equals_librosa(pad_mode, n):
    wav = np.concatenate([clip(2), clip(0)])[:n]
    fe = LogMelFrontend(FrontendConfig(pad_mode=pad_mode))
    ours = fe(wav).numpy()
    S = librosa.feature.melspectrogram(y=wav, sr=SR, n_fft=512, hop_length=256, n_mels=96,
                                       pad_mode=pad_mode)
    theirs = np.log10(10000 * S.T.astype(np.float64) + 1)
    assert ours.shape == theirs.shape == (num_frames(n), 96)
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=2e-5)


def test_log_mel_frame_ranges_equal_the_full_computation():
    wav = clip(1)
    fe = LogMelFrontend()
    full = fe(wav)
    for a, b in [(0, 1), (0, 187), (5, 300), (370, num_frames(len(wav)))]:
        np.testing.assert_allclose(fe.frames(wav, a, b), full[a:b], rtol=1e-6, atol=1e-6)
    with pytest.raises(ValueError, match="empty frame range"):
        fe.frames(wav, 10, 10)


def test_loud_input_would_overflow_float16_but_the_port_stays_finite():
    wav = loud()
    S = librosa.feature.melspectrogram(y=wav, sr=SR, n_fft=512, hop_length=256, n_mels=96,
                                       pad_mode="reflect").T
    assert float16_overflows(S)  # the original's cast: 10000 * S in float16 -> inf
    with np.errstate(over="ignore"):
        assert np.isinf(10000 * S.astype(np.float16)).any()
    t = teacher("MTT_musicnn")
    mel = t.log_mel(wav, SR)
    assert np.isfinite(mel).all() and mel.max() > np.log10(65504)
    np.testing.assert_allclose(mel, np.log10(10000 * S.astype(np.float64) + 1),
                               rtol=1e-5, atol=2e-5)
    p = t.predict_windows(wav, SR)
    assert np.isfinite(p).all() and ((p >= 0) & (p <= 1)).all()
    assert np.isfinite(t.embed(wav, SR)).all()


def test_deterministic_and_batch_invariant():
    wav = np.concatenate([clip(1), clip(2)])  # 9 s: 563 frames, 7 windows with a 1 s hop
    a = teacher("MSD_musicnn", 4)
    b = teacher("MSD_musicnn", 1)
    c = teacher("MSD_musicnn", 5)
    p = a.predict_windows(wav, SR, hop_s=1.0)
    assert p.shape == (7, 50)  # (563 - 187) // 61 + 1; batches of 4+3, 7 x 1 and 5+2
    np.testing.assert_array_equal(p, a.predict_windows(wav, SR, hop_s=1.0))
    np.testing.assert_allclose(b.predict_windows(wav, SR, hop_s=1.0), p, atol=1e-5)
    np.testing.assert_allclose(c.predict_windows(wav, SR, hop_s=1.0), p, atol=1e-5)
    np.testing.assert_allclose(c.embed_windows(wav, SR), a.embed_windows(wav, SR), atol=1e-4)


def test_other_sample_rates_channels_and_dtypes_are_accepted():
    t = teacher("MTT_musicnn")
    base = t.predict(tones(SR), SR)
    for sr in (8000, 22050, 44100, 48000):  # the same band-limited signal, made at each rate
        assert np.abs(t.predict(tones(sr), sr) - base).max() < 5e-3, sr
    up = tones(44100)
    np.testing.assert_allclose(t.predict(np.stack([up, up], axis=1), 44100),
                               t.predict(up, 44100), atol=1e-6)  # (T, C) stereo is downmixed
    np.testing.assert_allclose(t.predict(ref()["clip_1"], SR), t.predict(clip(1), SR),
                               atol=1e-4)  # int16 PCM
    assert t.log_mel(tones(44100), 44100).shape == t.log_mel(tones(SR), SR).shape == (376, 96)


def test_short_input_is_repeat_padded_to_one_window():
    t = teacher("MTT_musicnn")
    one_s = clip(0)[:SR]
    p = t.predict_windows(one_s, SR)
    assert p.shape == (1, 50) and np.isfinite(p).all()
    assert t.predict_windows(clip(0)[:300], SR).shape == (1, 50)
    assert teacher("MTT_vgg").predict_windows(one_s, SR).shape == (1, 50)


def test_bad_input_raises_clear_errors():
    t = teacher("MTT_musicnn")
    with pytest.raises(ValueError, match="empty waveform"):
        t.predict(np.zeros(0, dtype=np.float32), SR)
    with pytest.raises(ValueError, match="empty waveform"):
        t.tag(np.zeros((0, 2), dtype=np.float32), SR)
    with pytest.raises(ValueError, match="NaN"):
        t.predict(np.full(SR, np.nan, dtype=np.float32), SR)
    with pytest.raises(ValueError, match="sr must be a positive integer"):
        t.predict(clip(0), 0)
    with pytest.raises(ValueError, match="shorter than one"):
        t.predict(clip(0), SR, hop_s=0.01)
