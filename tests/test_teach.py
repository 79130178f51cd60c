"""``lyrebird teach``: teacher columns on a manifest, checked against the tagger run directly;
bounded memory by blocks, resume after an interruption, a broken file reported and skipped."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from lyrebird.train.corpora.manifest import read_manifest, write_manifest
from lyrebird.train.teachers import annotate as ann
from lyrebird.train.teachers import load_teacher
from lyrebird.train.teachers.annotate import TeachConfig, annotate_manifest, teacher_tags

SR = 22050


def _write(path, seconds, seed, hz):
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    x = 0.3 * np.sin(2 * np.pi * hz * t) * (1 + np.sign(np.sin(2 * np.pi * 2 * t))) / 2
    sf.write(path, (x + 0.02 * rng.standard_normal(t.size)).astype(np.float32), SR)


@pytest.fixture()
def manifest(tmp_path):
    _write(tmp_path / "a.wav", 8.0, 0, 220.0)
    _write(tmp_path / "b.wav", 6.0, 1, 1760.0)
    (tmp_path / "broken.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEnope")
    rows = [("a.wav", 0.0, 8.0), ("b.wav", 1.0, 5.0), ("broken.wav", 0.0, 3.0), ("a.wav", 2.0, 6.0)]
    df = pd.DataFrame([{"path": p, "start_s": s, "end_s": e, "split": "train", "work_id": p,
                        "captions": [], "tags": [], "clip_id": f"c{i}"}
                       for i, (p, s, e) in enumerate(rows)])
    return write_manifest(df, tmp_path / "m.parquet")


def test_columns_match_the_tagger_run_directly_and_a_broken_file_is_reported(manifest, tmp_path):
    out = tmp_path / "taught.parquet"
    rep = annotate_manifest(manifest, out, TeachConfig(part_rows=2))
    assert rep.rows == 4 and rep.labelled == 3
    assert len(rep.failed) == 1 and "broken.wav" in rep.failed[0]["path"]
    df = read_manifest(out)
    tagger = load_teacher("MTT_musicnn")
    wav, _ = sf.read(tmp_path / "b.wav", dtype="float32")
    direct = tagger.predict(wav[int(1.0 * SR) : int(5.0 * SR)], SR)
    got = json.loads(df.loc[1, "teacher_probs"])["MTT_musicnn"]
    assert np.abs(np.array([got[t] for t in tagger.tags]) - direct).max() < 2e-3
    assert set(json.loads(df.loc[0, "teacher_probs"])) == {"MTT_musicnn", "MSD_musicnn"}
    assert pd.isna(df.loc[2, "teacher_probs"]) and list(df.loc[2, "teacher_tags"]) == []
    assert "estimates" in df.loc[0, "teacher_source"]
    assert df.loc[0, "teacher_tags"] == teacher_tags(df.loc[0, "teacher_probs"], 0.3)
    assert list(read_manifest(manifest).columns) == [c for c in df.columns
                                                     if c not in ann.COLUMNS]


def test_long_clips_are_decoded_in_blocks(manifest, monkeypatch):
    calls = []
    real = ann.stream_audio

    def counting(*a, **k):
        for block in real(*a, **k):
            calls.append(len(block))
            yield block

    monkeypatch.setattr(ann, "stream_audio", counting)
    taggers = {"MTT_musicnn": load_teacher("MTT_musicnn")}
    path = manifest.parent / "a.wav"
    whole = ann._clip_probs(taggers, path, 0.0, 8.0, block_s=100.0)[0]["MTT_musicnn"]
    n_whole = len(calls)
    probs, secs = ann._clip_probs(taggers, path, 0.0, 8.0, block_s=3.5)
    blocks = probs["MTT_musicnn"]
    assert n_whole == 1 and len(calls) - n_whole == 3 and secs == pytest.approx(8.0, abs=0.01)
    assert max(calls[n_whole:]) <= int(3.5 * 16000) + 1  # one block in memory at a time
    assert np.abs(blocks - whole).max() < 0.15  # same clip, windows cut at other places


def test_an_interrupted_run_resumes_and_matches_one_run(manifest, tmp_path, monkeypatch):
    cfg = TeachConfig(teachers=("MTT_musicnn",), part_rows=1)
    ref = read_manifest(manifest)
    full = annotate_manifest(manifest, tmp_path / "full.parquet", cfg)
    real, seen = ann._clip_probs, []

    def flaky(*a, **k):
        seen.append(a[1])
        if len(seen) == 2:
            raise KeyboardInterrupt
        return real(*a, **k)

    monkeypatch.setattr(ann, "_clip_probs", flaky)
    with pytest.raises(KeyboardInterrupt):
        annotate_manifest(manifest, tmp_path / "resumed.parquet", cfg)
    monkeypatch.setattr(ann, "_clip_probs", real)
    rep = annotate_manifest(manifest, tmp_path / "resumed.parquet", cfg)
    assert rep.reused_parts == 1 and full.reused_parts == 0
    a, b = read_manifest(tmp_path / "full.parquet"), read_manifest(tmp_path / "resumed.parquet")
    assert list(a["teacher_probs"]) == list(b["teacher_probs"])
    assert len(a) == len(ref)
    again = annotate_manifest(manifest, tmp_path / "resumed.parquet", cfg)
    assert again.reused_parts == 4 and again.audio_hours == 0.0


def test_teacher_tags_threshold_and_ranking():
    cell = json.dumps({"A": {"rock": 0.5, "metal": 0.2}, "B": {"rock": 0.7, "jazz": 0.31}})
    assert teacher_tags(cell, 0.3) == ["rock", "jazz"]
    assert teacher_tags(None, 0.3) == []
    with pytest.raises(ValueError, match="unknown teacher"):
        annotate_manifest("x.parquet", cfg=TeachConfig(teachers=("nope",)))


def test_max_seconds_reads_evenly_spaced_excerpts(manifest):
    taggers = {"MTT_musicnn": load_teacher("MTT_musicnn")}
    path = manifest.parent / "a.wav"
    whole, secs_all = ann._clip_probs(taggers, path, 0.0, 8.0, block_s=100.0)
    part, secs = ann._clip_probs(taggers, path, 0.0, 8.0, block_s=100.0, max_s=6.0,
                                 excerpt_s=3.0)
    assert secs_all == pytest.approx(8.0, abs=0.01) and secs == pytest.approx(6.0, abs=0.01)
    assert np.abs(part["MTT_musicnn"] - whole["MTT_musicnn"]).max() < 0.15
    _, secs = ann._clip_probs(taggers, path, 2.0, 6.0, block_s=100.0, max_s=6.0)
    assert secs == pytest.approx(4.0, abs=0.01)  # shorter than max_s: all of it
