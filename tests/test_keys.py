"""Key labels: the MIREX weighted key score against mir_eval, parsing with sharps and flats."""

from __future__ import annotations

import itertools

import mir_eval
import pytest

from lyrebird.train.corpora.keys import PC_NAMES, key_score, parse_key

KEYS = [f"{t} {m}" for t in PC_NAMES for m in ("major", "minor")]


def test_key_score_matches_mir_eval_on_all_576_pairs():
    for est, ref in itertools.product(KEYS, KEYS):
        assert key_score(est, ref) == pytest.approx(mir_eval.key.weighted_score(ref, est)), (est, ref)


def test_parse_key_accepts_flats_and_rejects_junk():
    assert parse_key("Bb minor") == (10, "minor")
    with pytest.raises(ValueError, match="expected"):
        parse_key("H dorian")
    assert parse_key("C# major") == parse_key("Db major") == (1, "major")
