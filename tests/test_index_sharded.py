"""Scale-out: a 2-process (gloo) Lightning predict job embeds shards that merge into one index."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

TESTS = Path(__file__).parent


@pytest.mark.timeout(600)
def test_two_process_predict_job_merges_into_one_ivfpq_library(tmp_path):
    music = tmp_path / "music"
    music.mkdir()
    sr = 16000
    t = np.arange(sr * 30) / sr
    for i in range(60):
        f = 120.0 * 1.07**i
        sf.write(music / f"t{i:02d}.flac", (0.4 * np.sin(2 * np.pi * f * t)).astype(np.float32), sr)
    (music / "broken.wav").write_bytes(b"RIFF....")
    env = {**os.environ, "PYTHONPATH": str(TESTS), "PYTHONWARNINGS": "ignore"}
    lib = str(tmp_path / "lib")

    def cli(*args):
        r = subprocess.run([sys.executable, "-m", "lyrebird", *args], capture_output=True,
                           text=True, env=env, timeout=500)
        assert r.returncode == 0, r.stderr[-3000:]
        return r.stdout

    # a 5 s hop (not the default 10 s): 5 windows of 10 s per 30 s track
    cli("index", "create", lib, "--model", "py:tone_model:ToneModel", "--index", "ivfpq",
        "--hop-s", "5")
    rep = json.loads(cli("index", "add", lib, str(music), "--devices", "2", "--strategy", "ddp",
                         "--accelerator", "cpu", "--json"))
    assert len(rep["added"]) == 60 and [f["path"].split("/")[-1] for f in rep["failed"]] == ["broken.wav"]
    shards = sorted((tmp_path / "lib" / "shards").glob("shard-*.jsonl"))
    assert len(shards) == 2  # one per process, disjoint halves of the files
    halves = [{json.loads(x)["path"] for x in s.read_text().splitlines()} for s in shards]
    assert not (halves[0] & halves[1]) and len(halves[0] | halves[1]) == 61
    info = json.loads(cli("index", "info", lib, "--json"))
    assert info["tracks"] == 60 and info["segments"] == 60 * 5
    assert info["index"]["segments"] == "ivfpq"
    from tone_model import ToneModel

    band = ToneModel()._band
    top = json.loads(cli("search", lib, "tone at 900 Hz", "-k", "1", "--json"))[0]
    i = int(Path(top["path"]).stem[1:])
    assert band(120.0 * 1.07**i) == band(900.0)  # a track whose tone is in the query's band
    # adding the same folder again is idempotent: everything is a duplicate
    again = json.loads(cli("index", "add", lib, str(music), "--json"))
    assert not again["added"] and len(again["duplicates"]) == 60
