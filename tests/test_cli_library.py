"""The library verbs end to end: ``index sync``, ``playlist --m3u``, ``similar`` on an excerpt."""

from __future__ import annotations

import json

import numpy as np
import soundfile as sf
from click.testing import CliRunner

from lyrebird.cli import main

SR = 16000
MODEL = "py:tone_model:ToneModel"


def tone(path, hz, seconds=12.0, start_hz=None):
    t = np.arange(int(seconds * SR)) / SR
    f = np.where(t < seconds / 2, start_hz or hz, hz)
    sf.write(path, (0.4 * np.sin(2 * np.pi * f * t)).astype(np.float32), SR)
    return path


def run(*args):
    res = CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    return res.stdout


def test_sync_playlist_and_excerpt_search_from_the_cli(tmp_path):
    music = tmp_path / "music"
    music.mkdir()
    for hz in (220, 440, 880, 1760):
        tone(music / f"t{hz}.flac", hz, 30.0, start_hz=hz * 1.5)
    lib = tmp_path / "lib"
    run("index", "create", lib, "--model", MODEL)
    first = json.loads(run("index", "sync", lib, music, "--json"))
    assert first["counts"]["added"] == 4
    (music / "t220.flac").rename(music / "renamed.flac")
    (music / "t1760.flac").unlink()
    again = json.loads(run("index", "sync", lib, "--json"))
    assert (again["counts"]["moved"], again["counts"]["removed"]) == (1, 1)
    out = tmp_path / "pl.m3u8"
    text = run("playlist", lib, "tone at 440 Hz", "-n", "2", "--m3u", out, "--relative")
    assert "wrote" in text and out.read_text("utf-8").startswith("#EXTM3U\n#EXTINF:30,")
    clip = tone(tmp_path / "clip.wav", 880, 10.0)  # the second half of t880: 15-25 s…
    hits = json.loads(run("similar", lib, clip, "-k", "1", "--json"))
    assert hits[0]["path"].endswith("t880.flac") and hits[0]["start_s"] >= 10.0
