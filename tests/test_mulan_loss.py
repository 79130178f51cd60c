"""MuLan's contrastive loss (DCL / InfoNCE, symmetric, exclusions) against NumPy loops."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lyrebird.encoders.contrastive import nt_xent, paired_contrastive


def reference(a, t, tau, decoupled=True, exclude=None, symmetric=True):
    """Direct per-anchor computation of the cross-modal (D)CL loss."""
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    t = t / np.linalg.norm(t, axis=1, keepdims=True)
    s = a @ t.T / tau
    b = len(a)
    ex = np.zeros((b, b), bool) if exclude is None else exclude

    def one_direction(s, ex):
        losses = []
        for i in range(b):
            cands = [j for j in range(b) if not (j == i and decoupled) and not (ex[i, j] and j != i)]
            lse = np.log(sum(np.exp(s[i, j]) for j in cands)) if cands else 0.0
            losses.append(lse - s[i, i])
        return np.mean(losses)

    l1 = one_direction(s, ex)
    return 0.5 * (l1 + one_direction(s.T, ex.T)) if symmetric else l1


@pytest.mark.parametrize("decoupled", [True, False])
@pytest.mark.parametrize("symmetric", [True, False])
@pytest.mark.parametrize("tau", [0.07, 0.5])
def test_matches_numpy(decoupled, symmetric, tau):
    rng = np.random.default_rng(3)
    a = rng.normal(size=(7, 5))
    t = a + 0.8 * rng.normal(size=(7, 5))
    got = paired_contrastive(torch.tensor(a), torch.tensor(t), tau, decoupled=decoupled,
                             symmetric=symmetric)
    assert float(got) == pytest.approx(reference(a, t, tau, decoupled, None, symmetric), rel=1e-5)


def test_exclusions_match_numpy_and_change_the_loss():
    rng = np.random.default_rng(0)
    a, t = rng.normal(size=(6, 4)), rng.normal(size=(6, 4))
    work = np.array([0, 0, 1, 2, 2, 3])
    ex = work[:, None] == work[None, :]
    for dec in (True, False):
        got = paired_contrastive(torch.tensor(a), torch.tensor(t), 0.1, decoupled=dec,
                                 exclude=torch.tensor(ex))
        assert float(got) == pytest.approx(reference(a, t, 0.1, dec, ex), rel=1e-5)
    plain = paired_contrastive(torch.tensor(a), torch.tensor(t), 0.1)
    assert abs(float(plain) - reference(a, t, 0.1, True, ex)) > 1e-3


def test_dcl_removes_the_positive_from_the_denominator():
    """DCL = InfoNCE minus the positive's share: log(sum_all) vs log(sum_neg)."""
    rng = np.random.default_rng(1)
    a, t = rng.normal(size=(5, 3)), rng.normal(size=(5, 3))
    dcl = float(paired_contrastive(torch.tensor(a), torch.tensor(t), 0.2, symmetric=False))
    nce = float(paired_contrastive(torch.tensor(a), torch.tensor(t), 0.2, decoupled=False,
                                   symmetric=False))
    assert nce > dcl  # the positive adds to every denominator
    assert dcl == pytest.approx(reference(a, t, 0.2, True, symmetric=False), rel=1e-6)


def test_empty_denominator_and_gradients():
    """B = 1 under DCL leaves no negatives: the loss is -s/tau and gradients stay finite."""
    a = torch.randn(1, 4, requires_grad=True)
    t = torch.randn(1, 4)
    log_tau = torch.tensor(np.log(0.1), requires_grad=True)
    loss = paired_contrastive(a, t, log_tau.exp())
    cos = torch.nn.functional.cosine_similarity(a, t).item()
    assert float(loss) == pytest.approx(-cos / 0.1, rel=1e-5)
    loss.backward()
    assert torch.isfinite(a.grad).all() and torch.isfinite(log_tau.grad)


def test_learnable_temperature_gets_gradient_and_aligned_pairs_score_lower():
    rng = np.random.default_rng(2)
    a = torch.tensor(rng.normal(size=(8, 6)), dtype=torch.float32)
    noise = torch.tensor(rng.normal(size=(8, 6)), dtype=torch.float32)
    log_tau = torch.tensor(np.log(0.1), dtype=torch.float32, requires_grad=True)
    aligned = paired_contrastive(a, a + 0.05 * noise, log_tau.exp())
    aligned.backward()
    assert log_tau.grad is not None and log_tau.grad != 0
    shuffled = paired_contrastive(a, a[torch.randperm(8, generator=torch.Generator().manual_seed(0))],
                                  0.1)
    assert float(aligned) < float(shuffled)


def test_shape_errors_and_nt_xent_untouched():
    with pytest.raises(ValueError, match=r"\(B, D\)"):
        paired_contrastive(torch.randn(3, 4), torch.randn(4, 4))
    z1, z2 = torch.randn(4, 8), torch.randn(4, 8)
    assert torch.isfinite(nt_xent(z1, z2, 0.1, decoupled=True))
