"""The opt-in real-music checkpoints: they load by name, the MuLan's frozen encoder is the
shipped `myna-real` (fingerprint checked), and both cards state data, teacher and licences."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from lyrebird.core.fingerprint import module_fingerprint
from lyrebird.encoders import get_encoder, list_encoders
from lyrebird.mulan import MuLan

ROOT = Path(__file__).resolve().parents[1]


def test_myna_real_is_listed_and_is_not_the_default():
    assert "myna-real" in list_encoders()
    a, b = get_encoder("myna-real"), get_encoder("default")
    assert module_fingerprint(a) != module_fingerprint(b)
    assert a.DIM == b.DIM and a.SAMPLE_RATE == b.SAMPLE_RATE  # same architecture, new weights
    size = (ROOT / "encoders/checkpoints/myna-real/model.safetensors").stat().st_size
    assert size <= 25 * 2**20


def test_real_mulan_uses_myna_real_and_embeds():
    meta = json.loads((ROOT / "mulan/checkpoints/real/config.json").read_text())
    assert meta["config"]["audio"]["encoder"] == "myna-real"
    assert meta["config"]["audio"]["encoder_fingerprint"] == module_fingerprint(
        get_encoder("myna-real"))
    m = MuLan.load("real")  # refuses a mismatched encoder fingerprint
    t = m.embed_text(["heavy metal with distorted guitars", "ein ruhiges Klavierstück"])
    sr = 16000
    wav = (0.2 * np.sin(2 * np.pi * 220 * np.arange(3 * sr) / sr)).astype(np.float32)
    a = m.embed_audio(wav, sr)
    assert t.shape == (2, 512) and a.shape == (512,)
    assert torch.allclose(t.norm(dim=-1), torch.ones(2), atol=1e-3)
    assert m.fingerprint() != MuLan.load("default", audio=False).fingerprint()


@pytest.mark.parametrize("card", ["encoders/checkpoints/myna-real/README.md",
                                  "mulan/checkpoints/real/README.md"])
def test_cards_state_data_licences_and_results(card):
    text = (ROOT / card).read_text()
    for word in ("train split", "licence", "random-init", "not the default"):
        assert word.lower() in text.lower(), word
    if "mulan" in card:
        assert "not strictly zero-shot" in text and "teacher" in text.lower()
