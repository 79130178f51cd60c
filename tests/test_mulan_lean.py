"""The lean inference path of text backbones agrees with Hugging Face's own forward."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from lyrebird.mulan.lean_encoder import LeanEncoder, lean_supported
from lyrebird.mulan.text_backbones import TextBackbone, random_bert

TEXTS = ["a calm piano track", "schnelle elektronische Musik mit Schlagzeug", "jazz"]


def _pooled(states: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    m = mask.float().unsqueeze(-1)
    return (states * m).sum(1) / m.sum(1)


def _xlmr(seed: int = 0):
    from transformers import XLMRobertaConfig, XLMRobertaModel

    cfg = XLMRobertaConfig(vocab_size=300, hidden_size=64, num_hidden_layers=3,
                           num_attention_heads=4, intermediate_size=128, pad_token_id=1,
                           max_position_embeddings=80)
    torch.manual_seed(seed)
    return XLMRobertaModel(cfg, add_pooling_layer=False).eval()


@pytest.fixture(scope="module")
def bert() -> TextBackbone:
    return random_bert("small", seed=3)


def test_fp32_equals_bert_on_a_padded_batch(bert):
    enc = bert.tokenize(TEXTS)
    mask = enc["attention_mask"].bool()
    assert not mask.all()  # the batch really is padded
    with torch.inference_mode():
        ref = bert.model(**enc).last_hidden_state
    out = LeanEncoder(bert.model, torch.float32)(enc["input_ids"], enc["attention_mask"])
    assert out.dtype == torch.float32 and out.shape == ref.shape
    torch.testing.assert_close(out[mask], ref[mask], atol=1e-5, rtol=1e-5)


def test_fp32_equals_xlm_roberta_positions_included():
    model = _xlmr()
    ids = torch.tensor([[0, 17, 45, 99, 2], [0, 23, 2, 1, 1]])  # second row padded (pad id 1)
    mask = (ids != 1).long()
    with torch.inference_mode():
        ref = model(input_ids=ids, attention_mask=mask).last_hidden_state
    out = LeanEncoder(model)(ids, mask)
    m = mask.bool()
    torch.testing.assert_close(out[m], ref[m], atol=1e-5, rtol=1e-5)


def test_bf16_keeps_the_pooled_embedding(bert):
    enc = bert.tokenize(TEXTS)
    ref = LeanEncoder(bert.model, torch.float32)(enc["input_ids"], enc["attention_mask"])
    low = LeanEncoder(bert.model, torch.bfloat16)(enc["input_ids"], enc["attention_mask"])
    cos = F.cosine_similarity(_pooled(ref, enc["attention_mask"]), _pooled(low, enc["attention_mask"]))
    assert cos.min() > 0.999


def test_backbone_uses_lean_only_without_gradients_and_refreshes_after_updates(bert):
    bb = random_bert("tiny", seed=1)
    bb.lean = "float32"
    enc = bb.tokenize(TEXTS)
    with torch.no_grad():
        a = bb(**enc)
    assert bb._lean is not None
    with torch.enable_grad():
        g = bb(**enc)
    assert g.grad_fn is not None  # the Hugging Face module ran, with autograd
    m = enc["attention_mask"].bool()
    torch.testing.assert_close(a[m], g.detach()[m], atol=1e-5, rtol=1e-5)
    with torch.no_grad():  # an in-place update (what an optimizer step does)
        bb.model.encoder.layer[0].intermediate.dense.weight.mul_(2.0)
        b = bb(**enc)
        ref = bb.model(**enc).last_hidden_state
    assert not torch.allclose(a[m], b[m], atol=1e-3)
    torch.testing.assert_close(b[m], ref[m], atol=1e-5, rtol=1e-5)
    bb.lean = None
    bb._lean = None
    with torch.no_grad():
        bb(**enc)
    assert bb._lean is None


def test_unsupported_models_and_bad_options_are_refused():
    with pytest.raises(ValueError, match="lean"):
        TextBackbone(random_bert("tiny").model, None, "x", lean="int4")
    assert not lean_supported(torch.nn.Linear(2, 2))
    with pytest.raises(ValueError, match="unsupported"):
        LeanEncoder(torch.nn.Linear(2, 2))
