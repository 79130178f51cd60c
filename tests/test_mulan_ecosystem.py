"""MuLan in the ecosystem, offline with tiny random models: sentence-transformers both ways,
Hugging Face-style save/load (local folders; hub ids only from the cache), ONNX export and the
onnxruntime library model."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from lyrebird.core.checkpoint import CheckpointError
from lyrebird.mulan import MuLan
from lyrebird.mulan.config import AudioTowerConfig, MuLanConfig, TextTowerConfig
from lyrebird.mulan.st_export import STExportError
from lyrebird.mulan.text_backbones import load_text_backbone

TEXTS = ["a calm piano piece", "ein schneller Rocksong", "Une valse lente", "x" * 200]


def _cos(a, b) -> np.ndarray:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)


def _text_mulan(n_layers: int = 0, backbone: str = "random-bert:tiny") -> MuLan:
    torch.manual_seed(0)
    cfg = MuLanConfig(text=TextTowerConfig(backbone=backbone, n_layers=n_layers, heads=2,
                                           prefix="query: "), dim=16)
    m = MuLan(cfg, audio=False).eval()
    m.text.backbone.lean = None  # the exact Hugging Face path, fp32
    return m


@pytest.fixture(scope="module")
def tiny() -> MuLan:
    torch.manual_seed(0)
    cfg = MuLanConfig(
        audio=AudioTowerConfig(encoder="myna:tiny-hybrid", window_s=4.0, pooling="meanstd",
                               head_norm=True),
        text=TextTowerConfig(backbone="random-bert:tiny", n_layers=1, heads=2), dim=16)
    m = MuLan(cfg).eval()
    m.text.backbone.lean = None
    return m


# --------------------------------------------------------------------------- sentence-transformers
def test_st_export_matches_embed_text(tmp_path):
    st_mod = pytest.importorskip("sentence_transformers")
    m = _text_mulan()
    out = m.export_text_encoder(tmp_path / "st")
    modules = json.loads((out / "modules.json").read_text())
    assert [x["type"].rsplit(".", 1)[1] for x in modules] == [
        "Transformer", "Pooling", "Dense", "Normalize"]
    cfg = json.loads((out / "config_sentence_transformers.json").read_text())
    assert cfg["prompts"] == {"query": "query: "} and cfg["default_prompt_name"] == "query"
    st = st_mod.SentenceTransformer(str(out), device="cpu")
    assert _cos(st.encode(TEXTS), m.embed_text(TEXTS)).min() >= 0.9999


def test_st_export_refuses_extra_layers(tmp_path):
    with pytest.raises(STExportError, match="n_layers=1"):
        _text_mulan(n_layers=1).export_text_encoder(tmp_path / "st")


def test_st_backbone_round_trip_and_tower(tmp_path):
    """An exported folder loads back as an ``st:`` backbone that keeps its own pooling, Dense
    and Normalize; a MuLan over it gets one vector per text; extra layers are refused."""
    pytest.importorskip("sentence_transformers")
    m = _text_mulan()
    out = m.export_text_encoder(tmp_path / "st")
    bb = load_text_backbone(f"st:{out}")
    assert bb.prefix == "query: " and bb.dim == 16
    states, mask = bb.encode(TEXTS)
    assert states.shape == (len(TEXTS), 1, 16) and bool(mask.all())
    assert _cos(states[:, 0].detach(), m.embed_text(TEXTS)).min() >= 0.9999
    cfg = MuLanConfig(text=TextTowerConfig(backbone=f"st:{out}", n_layers=0), dim=8)
    m2 = MuLan(cfg, audio=False)
    assert m2.embed_text(TEXTS).shape == (len(TEXTS), 8)
    # a MuLan over an st: backbone exports too: its modules, then the projection
    out2 = m2.export_text_encoder(tmp_path / "st2")
    kinds = [x["type"].rsplit(".", 1)[1]
             for x in json.loads((out2 / "modules.json").read_text())]
    assert kinds[-2:] == ["Dense", "Normalize"] and len(kinds) == 6
    with pytest.raises(ValueError, match="pooled vector"):
        MuLan(MuLanConfig(text=TextTowerConfig(backbone=f"st:{out}", n_layers=2)), audio=False)


def test_st_backbone_from_sentence_transformers_xlmr(tmp_path):
    """A folder written by sentence-transformers itself (tiny random XLM-R, CLS pooling)."""
    st_mod = pytest.importorskip("sentence_transformers")
    from transformers import XLMRobertaConfig, XLMRobertaModel

    from lyrebird.mulan.text_backbones import _char_tokenizer

    tok = _char_tokenizer()
    hf = tmp_path / "xlmr"
    cfg = XLMRobertaConfig(vocab_size=len(tok), hidden_size=24, num_hidden_layers=1,
                           num_attention_heads=2, intermediate_size=48,
                           max_position_embeddings=140, pad_token_id=tok.pad_token_id)
    torch.manual_seed(0)
    XLMRobertaModel(cfg).save_pretrained(hf)
    tok.save_pretrained(hf)
    from sentence_transformers.models import Normalize, Pooling, Transformer

    tr = Transformer(str(hf), max_seq_length=32)
    st = st_mod.SentenceTransformer(modules=[tr, Pooling(24, "cls"), Normalize()], device="cpu")
    st.save(str(tmp_path / "stx"))
    bb = load_text_backbone(f"st:{tmp_path / 'stx'}", max_length=32)
    assert bb.prefix == "" and bb.dim == 24
    states, _ = bb.encode(TEXTS)
    assert _cos(states[:, 0].detach(), st.encode(TEXTS)).min() >= 0.9999


def test_st_backbone_errors():
    from lyrebird.mulan.text_backbones import TextBackboneError

    with pytest.raises(TextBackboneError, match="st:"):
        load_text_backbone("st:")


# --------------------------------------------------------------------------- save / load / hub
def test_save_pretrained_round_trip_with_card(tmp_path, tiny):
    out = tiny.save_pretrained(tmp_path / "m", results={"test": {"en": {"t2m_R@10": 0.5}}})
    card = (out / "README.md").read_text()
    assert card.startswith("---\nlibrary_name: lyrebird") and "t2m_R@10 | 0.5000" in card
    assert "random-bert:tiny" in card
    back = MuLan.from_pretrained(out, check_fingerprint=True)
    assert back.fingerprint() == tiny.fingerprint()
    assert json.loads((out / "config.json").read_text())["eval"]["test"]["en"]["t2m_R@10"] == 0.5
    # saving again keeps the results and does not nest the generated card
    again = back.save_pretrained(tmp_path / "m2")
    assert (again / "README.md").read_text().count("library_name: lyrebird") == 1
    assert "t2m_R@10" in (again / "README.md").read_text()


def test_from_pretrained_uncached_repo_id_offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(CheckpointError, match="not in the local Hugging Face cache"):
        MuLan.from_pretrained("lyrebird-test/no-such-model")
    from lyrebird.encoders import get_encoder

    with pytest.raises(CheckpointError, match="HF_HUB_OFFLINE"):
        get_encoder("lyrebird-test/no-such-encoder")


def test_push_to_hub_uploads_the_saved_folder(tmp_path, tiny, monkeypatch):
    """push_to_hub = save_pretrained + huggingface_hub's upload_folder (mocked: no network)."""
    calls = {}

    class FakeApi:
        def __init__(self, **kw):
            calls["init"] = kw

        def create_repo(self, repo_id, **kw):
            calls["repo"] = repo_id

        def upload_folder(self, folder_path, repo_id, **kw):
            from pathlib import Path

            calls["files"] = sorted(p.name for p in Path(folder_path).iterdir())
            return "https://huggingface.co/u/m/commit/0"

    import huggingface_hub

    monkeypatch.setattr(huggingface_hub, "HfApi", FakeApi)
    url = tiny.push_to_hub("u/m")
    assert url.endswith("/commit/0") and calls["repo"] == "u/m"
    assert calls["files"] == ["README.md", "config.json", "model.safetensors"]


# --------------------------------------------------------------------------- ONNX
def test_onnx_export_parity_and_runtime(tmp_path, tiny):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    from lyrebird.index.model import load_model
    from lyrebird.mulan.onnx_export import export_onnx
    from lyrebird.mulan.onnx_runtime import OnnxMuLan

    man = export_onnx(tiny, tmp_path / "onnx", int8=True)
    assert man["parity"]["text"]["min_cosine_fp32"] >= 0.9999
    assert man["parity"]["audio"]["min_cosine_fp32"] >= 0.9999
    assert {"text", "audio", "text_int8", "audio_int8"} <= set(man["files"])
    om = load_model(f"onnx:{tmp_path / 'onnx'}")
    assert isinstance(om, OnnxMuLan) and om.fingerprint() == tiny.fingerprint()
    assert _cos(om.embed_text(TEXTS), tiny.embed_text(TEXTS)).min() >= 0.9999
    sr, w = tiny.audio.sample_rate, tiny.audio.window
    rng = np.random.default_rng(1)
    audio = (0.1 * rng.standard_normal((5, w))).astype(np.float32)
    valid = np.array([w, w // 2, w, 3000, w])
    ref = tiny.embed_windows(audio, valid)
    assert _cos(om.embed_windows(audio, valid), ref).min() >= 0.9999
    long = (0.1 * rng.standard_normal(int(2.5 * w))).astype(np.float32)  # several windows
    got = om.embed_windows(long[None], np.array([len(long)]))
    assert _cos(got, tiny.embed_audio(long, sr)[None]).min() >= 0.9999
    q = load_model(f"onnx-int8:{tmp_path / 'onnx'}")
    assert q.fingerprint() == tiny.fingerprint()  # fp32 audio: same library vectors
    assert _cos(q.embed_text(TEXTS), tiny.embed_text(TEXTS)).min() > 0.9
