"""The masked-token-prediction objective: span masking statistics and masked-only losses."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from lyrebird.encoders.masking import (
    ObjectiveConfig,
    fill_noise,
    majority_accuracy,
    masked_mse,
    masked_token_loss,
    span_mask,
)
from lyrebird.encoders.muq import MuQEncoder, muq_config

pytestmark = pytest.mark.usefixtures("one_thread")


def runs(row: np.ndarray) -> list[tuple[int, int]]:
    """(start, length) of each run of True in a 1-D bool array."""
    d = np.diff(np.concatenate([[0], row.astype(int), [0]]))
    starts, ends = np.flatnonzero(d == 1), np.flatnonzero(d == -1)
    return list(zip(starts.tolist(), (ends - starts).tolist(), strict=True))


def test_span_mask_statistics():
    cfg = ObjectiveConfig()
    span = cfg.span_frames(25.0)
    assert span == 10  # 0.4 s at 25 Hz
    g = torch.Generator().manual_seed(0)
    m = span_mask(256, 750, span, cfg.mask_prob, g).numpy()
    assert m.shape == (256, 750) and m.dtype == bool
    assert abs(m.mean() - 0.6) < 0.01  # coverage = p
    per_clip = m.mean(1)
    assert per_clip.std() < 0.1 and 0.3 < per_clip.min() and per_clip.max() < 0.9
    for row in m[:32]:
        rs = runs(row)
        phase = None
        for start, length in rs:
            if start == 0 or start + length == 750:
                continue  # spans cut by the clip edges
            assert length % span == 0, (start, length)  # whole 0.4 s spans
            phase = start % span if phase is None else phase
            assert start % span == phase  # on one grid per clip
    # a span is masked with probability p, independently: runs of k spans are geometric
    lengths = [n // span for row in m for s, n in runs(row) if 0 < s and s + n < 750]
    assert np.mean(lengths) == pytest.approx(1 / (1 - 0.6), rel=0.1)
    # different seeds, different masks; same seed, same mask
    again = span_mask(256, 750, span, 0.6, torch.Generator().manual_seed(0)).numpy()
    assert np.array_equal(m, again)
    assert not np.array_equal(m, span_mask(256, 750, span, 0.6,
                                           torch.Generator().manual_seed(1)).numpy())


@pytest.mark.parametrize("p", [0.2, 0.6])
def test_coverage_follows_the_probability(p):
    m = span_mask(128, 500, 10, p, torch.Generator().manual_seed(2))
    assert float(m.float().mean()) == pytest.approx(p, abs=0.02)


def test_loss_only_on_masked_frames():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(3, 40, 2, 16, generator=g, requires_grad=True)
    tokens = torch.randint(0, 16, (3, 40, 2), generator=g)
    mask = span_mask(3, 40, 10, 0.6, g)
    loss, acc = masked_token_loss(logits, tokens, mask)
    direct = F.cross_entropy(logits[mask].reshape(-1, 16), tokens[mask].reshape(-1))
    assert float(loss.detach()) == pytest.approx(float(direct.detach()), rel=1e-6)
    assert float(acc) == pytest.approx(float((logits[mask].argmax(-1) == tokens[mask]).float().mean()))
    other = logits.detach().clone()
    other[~mask] = 50 * torch.randn_like(other[~mask])  # any prediction at unmasked frames
    assert float(masked_token_loss(other, tokens, mask)[0].detach()) == pytest.approx(float(loss.detach()), rel=1e-6)
    moved = logits.detach().clone()
    moved[mask] += torch.randn_like(moved[mask])
    assert float(masked_token_loss(moved, tokens, mask)[0].detach()) != pytest.approx(float(loss.detach()))
    (grad,) = torch.autograd.grad(loss, logits)
    assert float(grad[~mask].abs().max()) == 0 and float(grad[mask].abs().max()) > 0
    empty = torch.zeros(3, 40, dtype=torch.bool)
    zero, nan_acc = masked_token_loss(logits, tokens, empty)
    assert float(zero.detach()) == 0 and zero.requires_grad and torch.isnan(nan_acc)


def test_masked_mse_and_majority_baseline():
    pred, target = torch.zeros(1, 4, 2), torch.ones(1, 4, 2)
    pred[0, 0] = 1.0
    mask = torch.tensor([[True, True, False, False]])
    assert float(masked_mse(pred, target, mask)) == pytest.approx(0.5)
    tokens = torch.tensor([[[1, 3], [1, 4], [2, 4], [9, 9]]])
    mask = torch.tensor([[True, True, True, False]])
    # stream 0: token 1 twice of 3; stream 1: token 4 twice of 3
    assert float(majority_accuracy(tokens, mask)) == pytest.approx(4 / 6)


def test_noise_fills_masked_frames_only():
    x = torch.randn(2, 30, 8)
    mask = span_mask(2, 30, 10, 0.6, torch.Generator().manual_seed(3))
    y = fill_noise(x, mask, 0.1, torch.Generator().manual_seed(4))
    assert torch.equal(y[~mask], x[~mask])
    assert not torch.isclose(y[mask], x[mask]).any()
    assert float(y[mask].std()) == pytest.approx(0.1, rel=0.3)


def test_model_objective_masks_inputs_and_reads_masked_frames():
    torch.manual_seed(0)
    cfg = muq_config("brn-sum-tiny", codebook_size=32, clip_s=2.0, mask_prob=0.6)
    model = MuQEncoder(cfg)
    feats = torch.randn(2, 50, 512)
    tokens = torch.randint(0, 32, (2, 50, 1))
    pad = torch.zeros(2, 50, dtype=torch.bool)
    pad[1, 40:] = True
    seen = {}
    model.backbone.register_forward_pre_hook(lambda m, a: seen.update(x=a[0], pad=a[1]))
    loss, met = model.masked_prediction_loss(feats, tokens, pad, torch.Generator().manual_seed(0))
    mask = model.make_mask(feats, pad, torch.Generator().manual_seed(0))
    assert not (mask & pad).any()  # padding is never a target
    assert torch.equal(seen["x"][~mask], feats[~mask]) and torch.equal(seen["pad"], pad)
    assert not torch.isclose(seen["x"][mask], feats[mask]).all()
    assert set(met) >= {"ce", "acc", "chance", "masked", "recon"}
    assert float(met["masked"]) == pytest.approx(float(mask.float().mean()))
    assert float(loss.detach()) == pytest.approx(float(met["ce"] + met["recon"]), rel=1e-5)  # weight 1
    # changing the targets of unmasked frames does not change the loss
    other = tokens.clone()
    other[~mask] = (other[~mask] + 1) % 32
    loss2, _ = model.masked_prediction_loss(feats, other, pad, torch.Generator().manual_seed(0))
    assert float(loss2.detach()) == pytest.approx(float(loss.detach()), rel=1e-6)


def test_objective_config_errors_name_the_field():
    with pytest.raises(ValueError, match="mask_prob"):
        ObjectiveConfig(mask_prob=1.0)
    with pytest.raises(ValueError, match="mask_span_s"):
        ObjectiveConfig(mask_span_s=0)
