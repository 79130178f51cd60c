"""Probe metrics against independent oracles: scikit-learn and mir_eval."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from sklearn import metrics as skm

from lyrebird.train.corpora.keys import PC_NAMES
from lyrebird.train.probes.metrics import (
    accuracy,
    average_precision_macro,
    key_score_matrix,
    key_weighted,
    r2,
    r2_batched,
    roc_auc_batched,
    roc_auc_macro,
)

KEYS = [f"{t} {m}" for t in PC_NAMES for m in ("major", "minor")]


@pytest.fixture
def tagging():
    rng = np.random.default_rng(0)
    y = rng.random((200, 7)) < 0.3
    s = y * 0.8 + rng.normal(size=y.shape)
    s[:, 2] = np.round(s[:, 2], 1)  # ties
    s[:, 5] = 0.0  # all tied
    return y, s


def test_roc_auc_matches_sklearn_including_ties(tagging):
    y, s = tagging
    assert roc_auc_macro(y, s) == pytest.approx(skm.roc_auc_score(y, s, average="macro"), abs=1e-12)


def test_roc_auc_skips_classes_without_positives_or_negatives(tagging):
    y, s = tagging
    y = y.copy()
    y[:, 0], y[:, 1] = False, True
    ok = [2, 3, 4, 5, 6]
    assert roc_auc_macro(y, s) == pytest.approx(
        skm.roc_auc_score(y[:, ok], s[:, ok], average="macro"), abs=1e-12)


def test_average_precision_matches_sklearn_including_ties(tagging):
    y, s = tagging
    assert average_precision_macro(y, s) == pytest.approx(
        skm.average_precision_score(y, s, average="macro"), abs=1e-12)


def test_batched_auc_equals_one_at_a_time(tagging):
    y, s = tagging
    batch = np.stack([s, -s, s**3])
    got = roc_auc_batched(y, batch)
    assert got == pytest.approx([roc_auc_macro(y, b) for b in batch])
    assert got[0] == pytest.approx(1 - got[1])


def test_r2_and_accuracy_match_sklearn():
    rng = np.random.default_rng(1)
    y = rng.normal(size=50)
    p = y + rng.normal(size=50) * 0.5
    assert r2(y, p) == pytest.approx(skm.r2_score(y, p))
    assert r2_batched(y, np.stack([p, y]))[1] == pytest.approx(1.0)
    a, b = rng.integers(0, 4, 80), rng.integers(0, 4, 80)
    assert accuracy(a, b) == pytest.approx(skm.accuracy_score(b, a))


def test_key_weighted_score_matches_mir_eval_for_every_pair():
    mir_eval = pytest.importorskip("mir_eval")
    s = key_score_matrix(KEYS)
    for (i, est), (j, ref) in itertools.product(enumerate(KEYS), enumerate(KEYS)):
        want = mir_eval.key.weighted_score(ref, est)
        assert s[i, j] == pytest.approx(want), (est, ref)
    assert key_weighted(["G major", "A minor", "C minor"], ["C major"] * 3) == pytest.approx(
        (0.5 + 0.3 + 0.2) / 3)


def test_key_labels_with_flats_score_like_sharps():
    mir_eval = pytest.importorskip("mir_eval")
    assert key_weighted(["Db major"], ["Gb major"]) == pytest.approx(
        mir_eval.key.weighted_score("Gb major", "Db major"))
