"""Retrieval and tagging metrics against scikit-learn and direct computations."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score

from lyrebird.mulan.metrics import (
    average_precision,
    first_relevant_rank,
    pr_auc,
    retrieval_metrics,
    roc_auc,
    tagging_metrics,
)


def direct_rank(scores, rel):
    """Rank of the best relevant item by sorting (pessimistic ties: relevant last)."""
    ranks = []
    for s, r in zip(scores, rel, strict=True):
        order = sorted(range(len(s)), key=lambda j: (-s[j], bool(r[j])))
        ranks.append(next(k for k, j in enumerate(order, 1) if r[j]))
    return np.array(ranks)


def test_ranks_recall_and_map_match_direct_and_sklearn():
    rng = np.random.default_rng(0)
    q, n = 30, 12
    scores = np.round(rng.normal(size=(q, n)), 1)  # rounding makes ties
    rel = rng.random((q, n)) < 0.2
    rel[np.arange(q), rng.integers(0, n, q)] = True
    ranks = first_relevant_rank(scores, rel)
    assert (ranks == direct_rank(scores, rel)).all()
    m = retrieval_metrics(scores, rel)
    for k in (1, 5, 10):
        assert m[f"R@{k}"] == pytest.approx(np.mean(ranks <= k))
    assert m["median_rank"] == np.median(ranks)
    ap = [average_precision_score(r, s) for s, r in zip(scores, rel, strict=True)]
    assert average_precision(scores, rel) == pytest.approx(ap, abs=1e-12)
    assert m["mAP"] == pytest.approx(np.mean(ap))
    assert m["queries"] == q and m["candidates"] == n


def test_single_relevant_map_is_mrr_and_perfect_scores():
    s = np.array([[0.9, 0.1, 0.5], [0.2, 0.3, 0.1]])
    r = np.array([[False, False, True], [True, False, False]])
    m = retrieval_metrics(s, r)
    assert m["mAP"] == pytest.approx(np.mean([1 / 2, 1 / 2]))
    assert m["R@1"] == 0 and m["R@5"] == 1
    perfect = retrieval_metrics(np.eye(4), np.eye(4, dtype=bool))
    assert perfect["R@1"] == 1 and perfect["median_rank"] == 1 and perfect["mAP"] == 1


def test_constant_scores_get_no_credit():
    m = retrieval_metrics(np.zeros((3, 10)), np.eye(3, 10, dtype=bool))
    assert m["median_rank"] == 10 and m["R@5"] == 0


def test_query_without_relevant_is_an_error():
    with pytest.raises(ValueError, match="relevant"):
        first_relevant_rank(np.zeros((2, 3)), np.array([[1, 0, 0], [0, 0, 0]], bool))


def test_auc_functions_match_sklearn():
    rng = np.random.default_rng(5)
    for _ in range(30):
        y = rng.random(50) < 0.3
        if y.all() or not y.any():
            continue
        s = np.round(rng.normal(size=50) + y, 1)
        assert roc_auc(y, s) == pytest.approx(roc_auc_score(y, s), abs=1e-12)
        assert pr_auc(y, s) == pytest.approx(average_precision_score(y, s), abs=1e-12)
    assert np.isnan(roc_auc(np.ones(4, bool), np.arange(4)))


def test_tagging_macro_uses_tags_with_enough_positives():
    rng = np.random.default_rng(1)
    y = rng.random((60, 4)) < [0.5, 0.05, 0.3, 0.0]
    s = rng.normal(size=(60, 4)) + y
    rep = tagging_metrics(y, s, ["a", "b", "c", "d"], min_pos=10)
    used = [k for k in range(4) if y[:, k].sum() >= 10]
    assert rep["tags_evaluated"] == len(used) == 2
    assert rep["roc_auc"] == pytest.approx(np.mean([roc_auc_score(y[:, k], s[:, k]) for k in used]))
    assert rep["pr_auc"] == pytest.approx(
        np.mean([average_precision_score(y[:, k], s[:, k]) for k in used]))
    assert set(rep["per_tag"]) == {"a", "c"}
