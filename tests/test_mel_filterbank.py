"""Lyrebird's own mel filterbank equals nnAudio's (librosa's) bit for bit, without scipy."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from lyrebird.encoders.mel import mel_filterbank


@pytest.mark.parametrize("sr,n_fft,n_mels,fmin,fmax,htk,norm", [
    (16000, 2048, 128, 0.0, None, False, True),   # myna
    (24000, 2048, 128, 0.0, None, True, False),   # muq
    (22050, 1024, 64, 30.0, 8000.0, False, True),
    (16000, 512, 40, 0.0, None, True, True),
])
def test_equals_nnaudio(sr, n_fft, n_mels, fmin, fmax, htk, norm):
    from nnAudio.utils import get_mel

    ref = get_mel(sr, n_fft, n_mels, fmin, fmax, htk=htk, norm=1 if norm else None,
                  dtype=np.float32)
    assert np.array_equal(mel_filterbank(sr, n_fft, n_mels, fmin, fmax, htk, norm), ref)


def test_building_a_frontend_imports_neither_nnaudio_nor_scipy_signal():
    code = ("import sys; from lyrebird.encoders.mel import MelFrontend; MelFrontend('myna'); "
            "print('nnAudio' in sys.modules, 'scipy.signal' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split()
    assert out == ["False", "False"]
