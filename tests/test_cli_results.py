"""``lyrebird search`` / ``similar`` results (issue #28): title, artist and the app's chips,
``--format`` and ``--json``; ``-k`` validated."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf
from click.testing import CliRunner

from lyrebird.cli import main

SR = 16000
MODEL = "py:ui_library:TaggedToneModel"
FREQS = (220, 440, 880, 1760)


def run(*args, code=0):
    res = CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)
    assert res.exit_code == code, res.output
    return res


@pytest.fixture(scope="module")
def tagged_library(tmp_path_factory):
    from mutagen.flac import FLAC

    root = tmp_path_factory.mktemp("cli_results")
    music = root / "music"
    music.mkdir()
    for hz in FREQS:
        p = music / f"tone{hz}.flac"
        t = np.arange(12 * SR) / SR
        sf.write(p, (0.4 * np.sin(2 * np.pi * hz * t)).astype(np.float32), SR)
        f = FLAC(p)
        f["title"] = f"Gargl {hz} by |Mordred|" if hz == 440 else f"Tone {hz}"
        if hz != 440:
            f["artist"] = "Sine Band"
        f.save()
    lib = root / "lib"
    run("index", "create", lib, "--model", MODEL)
    run("index", "add", lib, music)
    return lib


def test_search_shows_title_artist_and_the_apps_chips(tagged_library):
    from ui_library import TaggedToneModel

    from lyrebird.ui import LibraryService

    out = run("search", tagged_library, "tone at 440 Hz", "-k", "2").stdout
    first = out.splitlines()[0]
    assert first.startswith(" 1. Gargl 440 — Mordred  [tone at 440 Hz]  match "), out
    records = json.loads(run("search", tagged_library, "tone at 440 Hz", "-k", "4",
                             "--json").stdout)
    snap = LibraryService(tagged_library, model=TaggedToneModel()).snapshot()
    assert [r["chips"] for r in records] == [snap.chips_of(r["track_id"]) for r in records]
    assert records[0]["artist"] == "Mordred" and records[0]["display_title"] == "Gargl 440"
    assert [r["rank"] for r in records] == [1, 2, 3, 4]


def test_format_template_for_search_and_similar(tagged_library):
    out = run("search", tagged_library, "tone at 880 Hz", "-k", "1",
              "--format", "{title} — {artist} ({chips})").stdout
    assert out == "Tone 880 — Sine Band (tone at 880 Hz)\n"
    seed = json.loads(run("search", tagged_library, "tone at 220 Hz", "-k", "1",
                          "--json").stdout)[0]
    out = run("similar", tagged_library, seed["track_id"], "-k", "3", "--format",
              "{rank}:{file}").stdout
    lines = out.splitlines()
    assert len(lines) == 3 and lines[0].startswith("1:tone") and "tone220" not in out
    bad = run("search", tagged_library, "x", "--format", "{nope}", code=1)
    assert "unknown field {nope}" in bad.output and "{title}" in bad.output


@pytest.mark.parametrize("k", ["0", "101", "-3", "ten"])
def test_k_is_validated(tagged_library, k):
    res = run("search", tagged_library, "tone at 440 Hz", "-k", k, code=2)
    assert "1 to 100" in res.output, res.output
    res = run("similar", tagged_library, "1", "-k", k, code=2)
    assert "1 to 100" in res.output
