"""Captions of real recordings: every part traceable to a label, teacher words marked and kept
out of the test split, genuine labels untouched, every language's word list complete."""

from __future__ import annotations

import pandas as pd
import pytest

from lyrebird.train.corpora.manifest import read_manifest, validate_manifest, write_manifest
from lyrebird.train.corpora.real_captions import (
    INSTRUMENTS,
    LANGS,
    STYLES,
    TEMPO_LEVEL,
    VOICES,
    caption_manifest,
    clip_captions,
)
from lyrebird.train.teachers import MSD_TAGS, MTT_TAGS

ROW = {"genre": "Female Fronted Metal", "title": "Laß' mein Jogli", "artist": "Mars Band",
       "album": "Red Planet", "split": "train",
       "teacher_tags": ["metal", "loud", "fast", "guitar", "drums", "female vocal", "sitar"]}


def test_each_caption_says_where_its_words_came_from():
    caps = clip_captions(ROW)
    assert {c["lang"] for c in caps} == set(LANGS)
    by = {(c["lang"], c["source"]): c["text"] for c in caps}
    f_en, t_en = by[("en", "file")], by[("en", "teacher")]
    # file captions hold only the file's text; teacher captions only teacher words
    for value in ("Female Fronted Metal", "Laß' mein Jogli", "Mars Band", "Red Planet"):
        assert value in f_en and value not in t_en
    # words in the order of the teacher tags (most likely first)
    assert t_en == "Loud, fast metal with guitar, drums and sitar; female vocals."
    assert by[("en", "file+teacher")] == f"{f_en} {t_en}"
    assert "Gitarre" in by[("de", "teacher")] and "guitare" in by[("fr", "teacher")]


def test_the_test_split_gets_file_captions_only():
    caps = clip_captions({**ROW, "split": "test"})
    assert {c["source"] for c in caps} == {"file"}
    assert clip_captions({"split": "test", "teacher_tags": ["rock"]}) == []
    # a genre value that names no genre is not used as one
    assert clip_captions({"split": "test", "genre": "Sound FX", "title": "Battlescape"},
                         ("en",))[0]["text"] == 'A track titled "Battlescape".'
    # no genre, no title: only the teacher caption, on train
    only_teacher = clip_captions({"split": "train", "teacher_tags": ["slow", "piano"]}, ("en",))
    assert only_teacher == [{"lang": "en", "text": "Slow music with piano.", "source": "teacher"}]


def test_word_lists_cover_every_language_and_use_teacher_vocabulary():
    for table in (TEMPO_LEVEL, STYLES, INSTRUMENTS, VOICES):
        for key, words in table.items():
            assert len(words) == len(LANGS) and all(words), key
            assert key in MTT_TAGS or key in MSD_TAGS, key  # a word only for a real teacher tag


def test_caption_manifest_round_trip_keeps_genuine_labels(tmp_path):
    df = pd.DataFrame([
        {**ROW, "path": "a.ogg", "start_s": 0.0, "end_s": 30.0, "work_id": "a", "captions": [],
         "tags": ["metal"], "clip_id": "a"},
        {**ROW, "path": "b.ogg", "start_s": 0.0, "end_s": 30.0, "work_id": "b", "captions": [],
         "tags": ["metal"], "clip_id": "b", "split": "test", "genre": "Death Metal"},
    ])
    m = write_manifest(df, tmp_path / "m.parquet")
    counts = caption_manifest(m, tmp_path / "c.parquet")
    out = read_manifest(tmp_path / "c.parquet")
    assert counts == {"file": 8, "teacher": 4, "file+teacher": 4, "clips_without_caption": 0}
    assert list(out["tags"]) == [["metal"], ["metal"]]
    assert list(out["genre"]) == ["Female Fronted Metal", "Death Metal"]
    assert all(c["source"] == "file" for c in out.loc[1, "captions"])
    assert validate_manifest(tmp_path / "c.parquet") == []
    with pytest.raises(ValueError, match="language"):
        caption_manifest(m, tmp_path / "x.parquet", langs=("xx",))


def test_validator_rejects_an_unknown_caption_source(tmp_path):
    df = pd.DataFrame([{"path": "a.ogg", "start_s": 0.0, "end_s": 1.0, "split": "train",
                        "work_id": "a", "tags": [], "clip_id": "a",
                        "captions": [{"lang": "en", "text": "x", "source": "guess"}]}])
    problems = validate_manifest(df)
    assert any("source" in str(p) for p in problems)
