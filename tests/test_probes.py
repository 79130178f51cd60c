"""Quick linear probes: key weighted score against mir_eval, probe fitting on known data."""

from __future__ import annotations

import itertools

import mir_eval
import numpy as np
import pytest

from lyrebird.train.probes import PITCH_CLASSES, fit_linear_probe, key_score, parse_key

KEYS = [f"{t} {m}" for t in PITCH_CLASSES for m in ("major", "minor")]


def test_key_score_matches_mir_eval_on_all_576_pairs():
    for est, ref in itertools.product(KEYS, KEYS):
        assert key_score(est, ref) == pytest.approx(mir_eval.key.weighted_score(ref, est)), (est, ref)


def test_parse_key_accepts_flats_and_rejects_junk():
    assert parse_key("Bb minor") == (10, "minor")
    with pytest.raises(ValueError, match="expected"):
        parse_key("H dorian")


def test_linear_probe_recovers_separable_classes_and_picks_c_on_valid():
    rng = np.random.default_rng(0)
    centers = rng.standard_normal((4, 16)) * 3
    x, y = {}, {}
    for split, n in (("train", 200), ("valid", 80), ("test", 80)):
        lab = rng.integers(0, 4, n)
        x[split] = centers[lab] + rng.standard_normal((n, 16))
        y[split] = lab.astype(str)
    pred, sel = fit_linear_probe(x, y)
    assert (pred == y["test"]).mean() > 0.95 and sel["valid_acc"] > 0.95
    # random labels: the probe cannot do better than chance on test
    y_rand = {k: rng.integers(0, 4, len(v)).astype(str) for k, v in y.items()}
    pred, _ = fit_linear_probe(x, y_rand)
    assert (pred == y_rand["test"]).mean() < 0.45
