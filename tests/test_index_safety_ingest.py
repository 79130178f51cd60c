"""Ingest reports every path it skips, with the right reason (issue #29): FIFOs, dangling
symlinks, symlink loops, a text file named ``.mp3``, and where a NaN really is."""

from __future__ import annotations

import os

import numpy as np
import pytest
import soundfile as sf
from tone_model import ToneModel

from lyrebird.encoders import AudioError, stream_audio
from lyrebird.index import Library
from lyrebird.index.ingest import discover

SR = 16000


def tone(path, hz=440, seconds=12.0):
    t = np.arange(int(seconds * SR)) / SR
    sf.write(path, (0.4 * np.sin(2 * np.pi * hz * t)).astype(np.float32), SR)
    return path


@pytest.fixture
def odd_folder(tmp_path):
    music = tmp_path / "music"
    music.mkdir()
    tone(music / "good.flac")
    os.mkfifo(music / "pipe.wav")
    os.symlink(music / "nowhere.wav", music / "dangling.wav")
    os.symlink(music / "loop.wav", music / "loop.wav")
    (music / "notes.txt").write_text("not audio, no audio extension: not reported")
    (music / "text.mp3").write_text("these are my lyrics, not an mp3\n" * 20)
    return music


def test_discover_reports_fifos_dangling_symlinks_and_loops(odd_folder):
    found, bad = discover([odd_folder])
    assert [f.name for f in found] == ["good.flac", "text.mp3"]
    why = {os.path.basename(p): r for p, r in bad}
    assert why["pipe.wav"] == "a FIFO, not a regular file"
    assert why["dangling.wav"] == f"dangling symlink to '{odd_folder / 'nowhere.wav'}'"
    assert why["loop.wav"] == "symlink loop"
    assert set(why) == {"pipe.wav", "dangling.wav", "loop.wav"}
    _, bad = discover([odd_folder / "pipe.wav", odd_folder / "loop.wav"])  # given directly
    assert [r for _, r in bad] == ["a FIFO, not a regular file", "symlink loop"]


def test_add_reports_each_skipped_path_and_the_real_cause(odd_folder, tmp_path):
    lib = Library.create(tmp_path / "lib", ToneModel())
    rep = lib.add([odd_folder])
    assert [os.path.basename(p) for p, _ in rep.added] == ["good.flac"]
    why = {os.path.basename(p): r for p, r in rep.failed}
    assert set(why) == {"pipe.wav", "dangling.wav", "loop.wav", "text.mp3"}
    assert why["text.mp3"].startswith("not a decodable audio file: it holds text")
    assert "does not exist" not in why["text.mp3"] and "pipe" not in why["text.mp3"]


def test_a_nan_is_reported_where_it_is(tmp_path):
    x = 0.1 * np.ones(20 * SR, np.float32)
    x[7 * SR] = np.nan
    path = tmp_path / "nan.wav"
    sf.write(path, x, SR, subtype="FLOAT")
    with pytest.raises(AudioError, match=r"from 7\.000 s") as e:
        for _ in stream_audio(path, SR, block_s=10.0):
            pass
    assert str(path) in str(e.value)
    lib = Library.create(tmp_path / "lib", ToneModel())
    (reason,) = [r for _, r in lib.add([path]).failed]
    assert "from 7.000 s" in reason
