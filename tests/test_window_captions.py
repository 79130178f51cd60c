"""Captioned windows for MuLan (``lyrebird data caption --windows``): each 10 s window of a train
track becomes a row captioned from its own teacher labels; other splits keep their rows."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from click.testing import CliRunner

from lyrebird.train.corpora.manifest import read_manifest
from lyrebird.train.corpora.window_captions import window_manifest
from lyrebird.train.teachers import TEACHERS
from lyrebird.train.teachers.windows import WindowConfig, label_windows

SR = 16000
WIN = 187 * 256  # the teachers' 2.992 s window
TAGS = TEACHERS["MTT_musicnn"]["tags"]


class PianoTechnoTeacher:
    """An MTT-shaped teacher: per window, "piano" = the energy share below 1 kHz, "techno" =
    the rest, every other tag 0.01."""

    sample_rate = SR
    window_frames = 187
    frontend = SimpleNamespace(cfg=SimpleNamespace(hop_length=256))
    tags = TAGS

    def _run(self, wav, sr, hop):
        n = len(wav) // WIN
        w = wav[: n * WIN].reshape(n, WIN)
        spec = np.abs(np.fft.rfft(w, axis=1)) ** 2
        low = spec[:, np.fft.rfftfreq(WIN, 1 / SR) < 1000].sum(1) / spec.sum(1)
        p = np.full((n, len(TAGS)), 0.01, np.float32)
        p[:, TAGS.index("piano")], p[:, TAGS.index("techno")] = low, 1 - low
        return p, np.zeros((n, 2), np.float32)


def _tone(hz: float, n: int) -> np.ndarray:
    return 0.3 * np.sin(2 * np.pi * hz * np.arange(n) / SR)


@pytest.fixture
def labelled(tmp_path):
    """A 25 s train track: 300 Hz for exactly 4 label windows (11.97 s), then 3 kHz; a valid
    and a test row of the same file with a genre and title."""
    wav = np.concatenate([_tone(300, 4 * WIN), _tone(3000, int(25 * SR) - 4 * WIN)])
    sf.write(tmp_path / "song.wav", wav.astype(np.float32), SR)
    base = {"path": "song.wav", "start_s": 0.0, "end_s": 25.0, "work_id": "pkg:a",
            "genre": "Electronica", "title": "Song", "tags": ["electronic"]}
    rows = [base | {"split": "train", "clip_id": "c0"}, base | {"split": "valid", "clip_id": "c1"},
            base | {"split": "test", "clip_id": "c2"}]
    m = tmp_path / "m.parquet"
    pd.DataFrame(rows).to_parquet(m)
    label_windows(m, tmp_path / "w", WindowConfig(teachers=("MTT_musicnn",)),
                  {"MTT_musicnn": PianoTechnoTeacher()})
    return m, tmp_path / "w"


def test_each_window_is_captioned_from_its_own_labels(labelled, tmp_path):
    m, w = labelled
    counts = window_manifest(m, w, tmp_path / "win.parquet")
    df = read_manifest(tmp_path / "win.parquet")
    train = df[df["split"] == "train"]
    # 8 label windows: 0-3 start in [0, 10) s, 4-6 in [10, 20), 7 alone in [20, 25): dropped
    assert counts["tracks"] == 1 and counts["windows"] == 2 and len(train) == 2
    assert train["start_s"].tolist() == [0.0, 10.0]
    # a row is one training window: its end is cut at 10 s (the last label windows run on to
    # 11.97 s and 20.94 s; a longer row would be cut by the trainer into a second, mostly
    # padded window: the first version did that)
    assert train["end_s"].tolist() == pytest.approx([10.0, 20.0], abs=1e-3)
    from lyrebird.train.trainers.mulan_data import window_offsets
    for s, e in zip(train["start_s"], train["end_s"], strict=True):
        assert len(window_offsets(s, e - s, 10.0, 6)) == 1
    first, second = (json.loads(c)["MTT_musicnn"] for c in train["teacher_probs"])
    assert first["piano"] == pytest.approx(1.0, abs=0.01) and first["techno"] < 0.01
    assert second["techno"] == pytest.approx(1.0, abs=0.01) and second["piano"] < 0.01
    assert "piano" in list(train["teacher_tags"].iloc[0]) and \
        "techno" not in list(train["teacher_tags"].iloc[0])
    en = [[c["text"] for c in caps if c["lang"] == "en" and c["source"] == "teacher"]
          for caps in train["captions"]]
    assert "piano" in en[0][0] and "techno" not in en[0][0].lower()
    assert en[1][0].lower().startswith("techno")
    # the track's own columns come along: the package stays the window's work
    assert set(train["work_id"]) == {"pkg:a"} and set(train["clip_id"]) == {"c0@0", "c0@1"}
    # other splits are kept whole; the test split gets no teacher words
    valid, test = df[df["split"] == "valid"], df[df["split"] == "test"]
    assert len(valid) == 1 and len(test) == 1 and test["end_s"].iloc[0] == 25.0
    assert {c["source"] for c in test["captions"].iloc[0]} == {"file"}


def test_labels_of_another_manifest_are_refused(labelled, tmp_path):
    m, w = labelled
    df = pd.read_parquet(m)
    df.loc[0, "path"] = "other.wav"
    df.to_parquet(tmp_path / "other.parquet")
    with pytest.raises(ValueError, match="label with the same manifest"):
        window_manifest(tmp_path / "other.parquet", w, tmp_path / "x.parquet")
    with pytest.raises(FileNotFoundError, match="no window labels index"):
        window_manifest(m, tmp_path, tmp_path / "x.parquet")


def test_the_cli_needs_an_out_file_with_windows(labelled, tmp_path):
    from lyrebird.cli import main

    m, w = labelled
    r = CliRunner().invoke(main, ["data", "caption", str(m), "--windows", str(w)])
    assert r.exit_code == 2 and "give --out FILE" in r.output
    r = CliRunner().invoke(main, ["data", "caption", str(m), "--windows", str(w), "--out",
                                  str(tmp_path / "win.parquet"), "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["windows"] == 2
