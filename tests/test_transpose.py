"""Mel transposition and Myna's transposed-twin negatives, against rendered tones."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from lyrebird.encoders.contrastive import nt_xent
from lyrebird.encoders.mel import MEL_PRESETS, MelConfig, MelFrontend
from lyrebird.encoders.myna import MynaConfig, MynaEncoder, presets
from lyrebird.encoders.transpose import (
    band_centres,
    hz_to_mel,
    mel_to_hz,
    transpose_mel,
    transposed_twins,
)

CFG = MEL_PRESETS["myna"]
SR = CFG.sample_rate


def tone_mel(f0: float, seconds: float = 1.0) -> torch.Tensor:
    """``(1, 128, T)`` log-mel of a harmonic tone at ``f0`` Hz (partials below 7.8 kHz)."""
    t = np.arange(int(seconds * SR)) / SR
    x = sum(np.sin(2 * np.pi * f0 * h * t) / h for h in range(1, 9) if f0 * h < 7800)
    return MelFrontend(CFG)(torch.tensor(x, dtype=torch.float32)[None])


def tone_mel_pure(f: float) -> torch.Tensor:
    t = np.arange(SR) / SR
    return MelFrontend(CFG)(torch.tensor(np.sin(2 * np.pi * f * t), dtype=torch.float32)[None])


def profile(mel: torch.Tensor) -> np.ndarray:
    return mel[0].mean(-1).numpy()


@pytest.mark.parametrize("f0,semitones", [(220.0, 3), (440.0, -5), (300.0, 7), (150.0, 1.5)])
def test_transposed_mel_matches_the_mel_of_the_transposed_tone(f0, semitones):
    orig = tone_mel(f0)
    rendered = profile(tone_mel(f0 * 2 ** (semitones / 12)))
    warped = profile(transpose_mel(orig, torch.tensor([semitones]), CFG))
    assert np.corrcoef(warped, rendered)[0, 1] > 0.93
    assert np.corrcoef(warped, rendered)[0, 1] > np.corrcoef(profile(orig), rendered)[0, 1] + 0.25
    assert abs(int(warped.argmax()) - int(rendered.argmax())) <= 1


def test_zero_shift_is_the_identity_and_rows_are_independent():
    mels = torch.cat([tone_mel(f) for f in (200.0, 330.0, 500.0)])
    assert torch.equal(transpose_mel(mels, torch.zeros(3), CFG), mels)
    shifts = torch.tensor([2.0, -4.0, 0.5])
    batch = transpose_mel(mels, shifts, CFG)
    for i in range(3):
        alone = transpose_mel(mels[i : i + 1], shifts[i : i + 1], CFG)
        assert torch.allclose(batch[i : i + 1], alone)


def test_mel_scales_and_band_centres():
    assert hz_to_mel(1000.0, htk=False) == pytest.approx(15.0)
    assert hz_to_mel(700.0, htk=True) == pytest.approx(2595 * np.log10(2))
    f = np.array([50.0, 999.0, 1000.0, 4321.0])
    for htk in (False, True):
        assert np.allclose(mel_to_hz(hz_to_mel(f, htk), htk), f)
    c = band_centres(CFG)
    assert c.shape == (128,) and np.all(np.diff(c) > 0) and 0 < c[0] < c[-1] < SR / 2
    # every band of the front-end's filter bank responds most to a tone near its centre
    for k in (20, 60, 100):
        peak = profile(tone_mel_pure(c[k])).argmax()
        assert abs(int(peak) - k) <= 1


def test_bad_inputs_fail_clearly():
    with pytest.raises(ValueError, match=r"\(B, 128, T\)"):
        transpose_mel(torch.zeros(2, 64, 10), torch.zeros(2), CFG)
    with pytest.raises(ValueError, match="2 spectrograms"):
        transpose_mel(torch.zeros(2, 128, 10), torch.zeros(3), CFG)
    with pytest.raises(ValueError, match="max_semitones"):
        transposed_twins(torch.zeros(1, 128, 4), torch.zeros(1, 128, 4), 0, CFG)
    with pytest.raises(ValueError, match="transpose"):
        MynaConfig(transpose=-1)
    with pytest.raises(ValueError, match="stack"):
        MynaConfig(transpose=2, mel=MelConfig(stack=2))


def test_twins_are_the_pairs_transposed_by_a_nonzero_whole_number_of_semitones():
    mel1, mel2 = tone_mel(2000.0), tone_mel(2000.0, seconds=0.5)
    for seed in range(6):
        g = torch.Generator().manual_seed(seed)
        t1, t2 = transposed_twins(mel1, mel2, 4, CFG, g)
        assert t1.shape == (2, 128, mel1.shape[-1]) and t2.shape == (2, 128, mel2.shape[-1])
        # both views of an item share its shift: their peaks agree
        assert profile(t1[:1]).argmax() == profile(t2[:1]).argmax()
        assert profile(t1[1:]).argmax() == profile(t2[1:]).argmax()
        # the detuned pair stays within half a semitone of 2 kHz; the twin moves 1..4 semitones
        # (about 2.4 bands per semitone above 1 kHz)
        centres = band_centres(CFG)
        f_pair, f_twin = centres[profile(t1[:1]).argmax()], centres[profile(t1[1:]).argmax()]
        assert abs(12 * np.log2(f_pair / 2000.0)) <= 0.5 + 0.5
        moved = abs(12 * np.log2(f_twin / f_pair))
        assert 0.5 <= moved <= 4.5
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    assert torch.equal(transposed_twins(mel1, mel2, 4, CFG, g1)[0],
                       transposed_twins(mel1, mel2, 4, CFG, g2)[0])


def test_myna_loss_with_twins_is_nt_xent_over_the_doubled_batch():
    torch.manual_seed(0)
    m = MynaEncoder(dataclasses.replace(presets()["tiny-vertical"], transpose=3)).eval()
    mel1, mel2 = torch.randn(4, 128, 96), torch.randn(4, 128, 96)
    loss, _ = m.contrastive_loss(mel1, mel2, generator=torch.Generator().manual_seed(0))
    g = torch.Generator().manual_seed(0)
    t1, t2 = transposed_twins(mel1, mel2, 3, CFG, g)
    z1, z2 = m.project_masked(torch.cat([t1, t2]), "vertical", generator=g).chunk(2)
    assert z1.shape[0] == 8
    assert loss.item() == pytest.approx(nt_xent(z1, z2, 0.1).item(), rel=1e-5)
    loss.backward()
    assert m.patchers["vertical"].proj.weight.grad.abs().sum() > 0
