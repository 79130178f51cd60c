"""Manifest schema: reading/writing parquet and CSV, and the validator naming bad rows."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from click.testing import CliRunner

from lyrebird.cli import main
from lyrebird.train.corpora.manifest import (
    ManifestError,
    read_manifest,
    validate_manifest,
    write_manifest,
)


def good_rows(n: int = 4) -> list[dict]:
    return [dict(clip_id=f"c{i}", path=f"audio/c{i}.flac", start_s=0.0, end_s=10.0,
                 split=["train", "train", "valid", "test"][i % 4], work_id=f"w{i}",
                 captions=[{"lang": "en", "text": "A violin plays a reel."},
                           {"lang": "de", "text": "Eine Violine spielt einen Reel."}],
                 tags=["violin", "fast"], key="D major", tonic=2, mode="major", key_exact=True,
                 key_source="abc K: field", tempo_bpm=112.0, meter="2/4",
                 instrument="violin", collection="oneills", composer="traditional")
            for i in range(n)]


def test_good_manifest_is_valid_and_roundtrips(tmp_path):
    df = pd.DataFrame(good_rows())
    assert validate_manifest(df) == []
    for name in ("m.parquet", "m.csv"):
        p = write_manifest(df, tmp_path / name)
        back = read_manifest(p)
        assert back["captions"].tolist() == df["captions"].tolist()
        assert back["tags"].tolist() == df["tags"].tolist()
        assert back["key_exact"].tolist() == [True] * 4
        assert validate_manifest(p) == []


def test_csv_lists_are_json_encoded(tmp_path):
    p = write_manifest(pd.DataFrame(good_rows(1)), tmp_path / "m.csv")
    raw = pd.read_csv(p)
    assert json.loads(raw.loc[0, "tags"]) == ["violin", "fast"]
    assert json.loads(raw.loc[0, "captions"])[1]["lang"] == "de"


@pytest.mark.parametrize("field,value,needle", [
    ("path", "", "non-empty string"),
    ("start_s", -1.0, ">= 0"),
    ("end_s", 0.0, "greater than start_s"),
    ("split", "training", "train, valid, test"),
    ("work_id", None, "missing"),
    ("captions", [{"lang": "english!", "text": "x"}], "language code"),
    ("captions", [{"lang": "en", "text": ""}], "non-empty text"),
    ("captions", "a violin", "list of {lang, text}"),
    ("tags", ["ok", ""], "list of non-empty strings"),
    ("tags", "violin", "list of non-empty strings"),
    ("mode", "majorish", "unknown mode"),
    ("meter", "three-four", "time signature"),
    ("tempo_bpm", -3.0, "> 0"),
    ("tempo_bpm", float("inf"), "finite"),
    ("key_exact", "yes", "true/false"),
    ("key_source", "estimated: Krumhansl-Schmuckler", "estimated"),
    ("key", None, "key is missing"),
])
def test_validator_names_row_and_field(field, value, needle):
    rows = good_rows()
    rows[2][field] = value
    problems = validate_manifest(pd.DataFrame(rows))
    assert problems, f"bad {field}={value!r} not caught"
    assert all(p.row == 2 for p in problems), problems
    assert any(needle in p.message for p in problems), [str(p) for p in problems]
    expected_field = "key_exact" if field in ("key_source", "key") else field
    assert any(p.field == expected_field for p in problems)
    assert "row 2 (c2)" in str(problems[0])


def test_validator_cross_row_problems():
    rows = good_rows()
    rows[2]["work_id"] = "w0"  # w0 is in train at row 0 and now in valid at row 2
    rows[3]["clip_id"] = "c1"
    problems = validate_manifest(pd.DataFrame(rows))
    split = [p for p in problems if p.field == "split"]
    assert len(split) == 1 and split[0].row == 2 and "row 0" in split[0].message
    dup = [p for p in problems if p.field == "clip_id"]
    assert len(dup) == 1 and dup[0].row == 3


def test_validator_missing_columns_and_files(tmp_path):
    df = pd.DataFrame(good_rows()).drop(columns=["captions", "split"])
    problems = validate_manifest(df)
    assert {p.field for p in problems if p.row is None} == {"captions", "split"}
    df = pd.DataFrame(good_rows())
    (tmp_path / "audio").mkdir()
    (tmp_path / "audio" / "c0.flac").write_bytes(b"x")
    problems = validate_manifest(df, check_files=True, root=tmp_path)
    assert sorted(p.row for p in problems) == [1, 2, 3]
    assert all(p.field == "path" and "not found" in p.message for p in problems)


def test_read_errors_are_clear(tmp_path):
    with pytest.raises(ManifestError, match="not found"):
        read_manifest(tmp_path / "nope.parquet")
    (tmp_path / "m.txt").write_text("x")
    with pytest.raises(ManifestError, match=r"\.parquet or \.csv"):
        read_manifest(tmp_path / "m.txt")
    (tmp_path / "bad.parquet").write_text("not parquet")
    with pytest.raises(ManifestError, match="bad.parquet"):
        read_manifest(tmp_path / "bad.parquet")


def test_cli_validate_exit_code_and_json(tmp_path):
    rows = good_rows()
    rows[1]["end_s"] = -5.0
    bad = write_manifest(pd.DataFrame(rows), tmp_path / "bad.parquet")
    good = write_manifest(pd.DataFrame(good_rows()), tmp_path / "good.csv")
    runner = CliRunner()
    res = runner.invoke(main, ["data", "validate", str(good)])
    assert res.exit_code == 0 and "valid" in res.output
    res = runner.invoke(main, ["data", "validate", str(bad), "--json"])
    assert res.exit_code == 1
    out = json.loads(res.stdout)
    assert out["valid"] is False and out["details"][0]["row"] == 1
    assert out["details"][0]["field"] == "end_s"
    res = runner.invoke(main, ["data", "summary", str(good), "--json"])
    assert res.exit_code == 0, res.output
    s = json.loads(res.stdout)
    assert s["clips"] == 4 and s["per_split"] == {"train": 2, "valid": 1, "test": 1}
