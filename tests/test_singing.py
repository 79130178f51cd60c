"""Augmented copies with a synthetic sung line (#25): the voice's pitch lies in its register
(an autocorrelation pitch estimate as the oracle), its level over the music is the drawn one,
copies without voice are the ones labelled before, and the trainers make the same audio again
from the shard's seed."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lyrebird.train.teachers.singing import REGISTERS, overlay_voice, sing
from lyrebird.train.teachers.windows import (
    WindowConfig,
    augment,
    augment_copy,
    label_windows,
    read_shard,
    shard_key,
)

SR = 16000


def _f0(x: np.ndarray, sr: int, lo: float = 70.0, hi: float = 1000.0) -> float:
    """Autocorrelation pitch of a voiced frame, Hz."""
    x = x - x.mean()
    ac = np.fft.irfft(np.abs(np.fft.rfft(x, 2 * len(x))) ** 2)[: len(x)]
    lags = np.arange(int(sr / hi), int(sr / lo))
    return sr / lags[np.argmax(ac[lags])]


@pytest.mark.parametrize("register", ["female", "male"])
def test_the_voice_sings_in_its_register(register):
    v = sing(6.0, SR, np.random.default_rng(3), register)
    assert v.shape == (6 * SR,) and v.dtype == np.float32
    assert np.abs(v).max() == pytest.approx(1.0, abs=1e-6)
    np.testing.assert_array_equal(v, sing(6.0, SR, np.random.default_rng(3), register))
    lo, hi = REGISTERS[register]
    frames = [v[i:i + 1024] for i in range(0, len(v) - 1024, 1600)]
    loud = [f for f in frames if np.sqrt(np.mean(f**2)) > 0.1]
    assert len(loud) >= 20  # mostly sung, with gaps
    f0s = np.array([_f0(f, SR) for f in loud])
    inside = (f0s > lo * 0.9) & (f0s < 2 * hi * 1.1)  # a melody spans an octave above the tonic
    assert inside.mean() > 0.8, np.round(f0s)
    if register == "female":
        assert np.median(f0s) > 190
    else:
        assert np.median(f0s) < 400


def test_sing_refuses_bad_arguments():
    with pytest.raises(ValueError, match="register 'child'"):
        sing(1.0, SR, np.random.default_rng(0), "child")
    with pytest.raises(ValueError, match="sr 4000 Hz"):
        sing(1.0, 4000, np.random.default_rng(0))
    with pytest.raises(ValueError, match="probability"):
        WindowConfig(voice=1.5)


def test_the_voice_sits_at_the_drawn_level_over_the_music():
    t = np.arange(8 * SR) / SR
    music = (0.05 * np.sin(2 * np.pi * 110 * t)).astype(np.float32)  # quiet: no peak rescale
    for seed in range(4):
        y, p = overlay_voice(music, SR, np.random.default_rng(seed))
        assert y.shape == music.shape and p["voice"] in REGISTERS
        v = y.astype(np.float64) - music
        sung = np.abs(v) > 1e-4 * np.abs(v).max() * 10
        level = 20 * np.log10(np.sqrt(np.mean(v[sung] ** 2)) / np.sqrt(np.mean(music**2)))
        assert -6.0 <= p["voice_db"] <= 6.0
        assert level == pytest.approx(p["voice_db"], abs=0.5)


def test_copies_without_voice_are_the_copies_made_before():
    wav = np.random.default_rng(0).standard_normal(3 * SR).astype(np.float32) * 0.1
    old, p_old = augment(wav, SR, np.random.default_rng(77))
    new, p_new = augment_copy(wav, SR, 77, voice=0.0)
    np.testing.assert_array_equal(old, new) and p_old == p_new
    sung, p = augment_copy(wav, SR, 77, voice=1.0)
    again, _ = augment_copy(wav, SR, 77, voice=1.0)
    np.testing.assert_array_equal(sung, again)
    assert p["voice"] in REGISTERS and {k: p[k] for k in p_old} == p_old
    assert np.abs(sung - old).max() > 0.01  # the voice is there
    cfg, sung_cfg = WindowConfig(), WindowConfig(voice=0.5)
    assert shard_key("a.ogg", 0.0, None, 0, cfg) == shard_key("a.ogg", 0.0, None, 0, sung_cfg)
    assert shard_key("a.ogg", 0.0, None, 1, cfg) != shard_key("a.ogg", 0.0, None, 1, sung_cfg)


def test_the_student_trains_on_the_sung_audio_its_labels_came_from(tmp_path):
    """A stand-in teacher reads the share of energy above 1 kHz from its window's log-mel;
    the voice adds energy there. ``window_set(copies=True)`` remakes every sung copy from its
    shard, so the share read back from each window's log-mel equals that window's label."""
    from test_tag_head_train import LowHighTeacher, corpus

    from lyrebird.encoders.musicnn_mel import slaney_mel_filterbank
    from lyrebird.train.trainers.tag_student import window_set

    m = tmp_path / "m.parquet"
    pd.DataFrame(corpus(tmp_path, [0.1, 0.2, 0.3], "train", 0)).to_parquet(m)
    cfg = WindowConfig(teachers=("T",), split=None, copies=1, voice=1.0)
    label_windows(m, tmp_path / "w", cfg, taggers={"T": LowHighTeacher()})
    metas = [read_shard(s)[0] for s in sorted((tmp_path / "w" / "shards").glob("*.npz"))]
    assert sorted(x["copy"] for x in metas) == [0, 0, 0, 1, 1, 1]
    assert all(x["augment"]["voice"] in REGISTERS for x in metas if x["copy"])
    clean = window_set(m, tmp_path / "w", "train", ("T",), tmp_path / "c")
    both = window_set(m, tmp_path / "w", "train", ("T",), tmp_path / "c", copies=True)
    fb = slaney_mel_filterbank(16000, 512, 96)
    centre = (fb * np.fft.rfftfreq(512, 1 / 16000)).sum(1) / fb.sum(1)
    power = (10 ** both.mel.astype(np.float64) - 1) / 10000 / fb.max(1)
    share = np.array([power[s:s + 187, centre < 1000].sum() / power[s:s + 187].sum()
                      for s in both.starts])
    label = both.probs[:, 0].astype(np.float64)
    err = np.abs(share - label)
    far = np.abs(label[:, None] - clean.probs[None, :, 0].astype(np.float64)).min(1)
    assert err.max() < 0.05, err.max()  # the mel bands round the 1 kHz edge: ≈ 0.02 off
    assert (far > 0.1).sum() >= 6, far  # the sung copies' labels are not the clean ones'
