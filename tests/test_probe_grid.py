"""The batched probe grid: vectorised Adam equals torch's, configurations stay independent,
selection is on validation, and every task kind learns an easy problem."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from lyrebird.train.probes.grid import FULL, MARBLE, GridSpec, ProbeConfig, _Group, _loss, run_grid
from lyrebird.train.probes.metrics import key_score_matrix

pytestmark = pytest.mark.usefixtures("one_thread")

SMALL = GridSpec(standardize=(True,), hidden=(0, 16), batch_size=(32,), lr=(1e-2,),
                 dropout=(0.25,), l2=(0.0,), max_epochs=15, patience=5, bf16=False)


def _data(kind: str, n: int = 240, d: int = 8, c: int = 3, seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d)).astype(np.float32)
    w = rng.normal(size=(d, c))
    z = x @ w
    if kind in ("multiclass", "key"):
        y = z.argmax(1)
    elif kind == "multilabel":
        y = z > 0.5
    else:
        y = z[:, 0] * 10 + 100
    sl = {"train": slice(0, n // 2), "valid": slice(n // 2, 3 * n // 4), "test": slice(3 * n // 4, n)}
    return {k: x[s] for k, s in sl.items()}, {k: y[s] for k, s in sl.items()}


def test_full_grid_is_the_216_jukemir_configurations():
    cfgs = FULL.configs()
    assert len(cfgs) == len(set(cfgs)) == 216
    assert {c.hidden for c in cfgs} == {0, 512} and {c.lr for c in cfgs} == {1e-5, 1e-4, 1e-3}
    assert len(MARBLE.configs()) == 1


def test_vectorised_adam_matches_torch_adam_per_configuration():
    torch.manual_seed(0)
    cfgs = [ProbeConfig(True, 4, 8, 1e-2, 0.0, 0.0), ProbeConfig(True, 4, 8, 1e-3, 0.0, 1e-2)]
    grp = _Group(5, 4, 3, cfgs, torch.Generator().manual_seed(0))
    refs = [[torch.nn.Parameter(p[g].clone()) for p in grp.params] for g in range(2)]
    opts = [torch.optim.Adam(r, lr=c.lr, weight_decay=c.l2) for r, c in zip(refs, cfgs, strict=True)]
    x, y = torch.randn(8, 5), torch.randint(0, 3, (8,))
    for _ in range(3):
        params = [p.requires_grad_(True) for p in grp.params]
        grads = torch.autograd.grad(_loss(grp.forward(x, params, False), y, "multiclass"), params)
        grp.params = [p.detach() for p in params]
        with torch.no_grad():
            grp.adam_step(list(grads))
        for r, opt in zip(refs, opts, strict=True):
            opt.zero_grad()
            h = torch.relu(x @ r[0] + r[1]) @ r[2] + r[3]
            torch.nn.functional.cross_entropy(h, y).backward()
            opt.step()
    for g in range(2):
        for p, r in zip(grp.params, refs[g], strict=True):
            torch.testing.assert_close(p[g], r.detach(), atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("kind", ["multiclass", "multilabel", "regression"])
def test_grid_learns_an_easy_problem(kind):
    x, y = _data(kind)
    res = run_grid(x, y, kind, ("a", "b", "c"), SMALL)
    if kind == "multiclass":
        assert (res.test_out.argmax(1) == y["test"]).mean() > 0.8
    elif kind == "multilabel":
        from sklearn.metrics import roc_auc_score

        assert roc_auc_score(y["test"], res.test_out, average="macro") > 0.9
    else:
        from sklearn.metrics import r2_score

        assert res.test_out.shape == (len(y["test"]), 1)
        assert r2_score(y["test"], res.test_out[:, 0]) > 0.8  # predictions in target units
    assert len(res.valid_scores) == 2 and res.valid == max(res.valid_scores)


def test_key_selection_uses_the_weighted_score():
    classes = ("A minor", "C major", "G major")
    x, y = _data("key")
    res = run_grid(x, y, "key", classes, SMALL)
    s = key_score_matrix(classes)
    assert res.valid <= 1.0 and res.valid >= s[res.test_out.argmax(1), y["test"]].mean() - 0.3


def test_winner_is_the_best_on_validation_and_scored_once_on_test():
    x, y = _data("multiclass", seed=1)
    spec = dataclasses.replace(FULL, max_epochs=2, patience=1, bf16=False)
    res = run_grid(x, y, "multiclass", ("a", "b", "c"), spec)
    assert len(res.valid_scores) == 216
    assert res.best == spec.configs()[int(np.argmax(res.valid_scores))]
    assert res.test_out.shape == (len(y["test"]), 3)


def test_grid_is_deterministic():
    x, y = _data("multiclass", seed=2)
    a = run_grid(x, y, "multiclass", ("a", "b", "c"), SMALL)
    b = run_grid(x, y, "multiclass", ("a", "b", "c"), SMALL)
    np.testing.assert_array_equal(a.test_out, b.test_out)
