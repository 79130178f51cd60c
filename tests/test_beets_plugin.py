"""The beets plugin end to end (issue #28): a real beets library in a temporary folder, files
imported with ``beet import -A``, every ``beet lyrebird`` command run by the ``beet`` program
and its output checked; moved, retagged and removed items followed by ``add``.

The tagged tone model (``tests/ui_library.py``: tone vectors, a tag vocabulary) stands in for MuLan through
the plugin's ``model:`` config key, so the test needs no real model.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

pytest.importorskip("beets")

SR = 16000
FREQS = (220, 440, 880, 1760)
TESTS = Path(__file__).resolve().parent
BEET = Path(sys.executable).parent / "beet"


def write_tone(path: Path, hz: int) -> Path:
    from mutagen.flac import FLAC

    t = np.arange(12 * SR) / SR
    noise = np.random.default_rng(hz).normal(0, 0.01, t.shape)
    sf.write(path, (0.4 * np.sin(2 * np.pi * hz * t) + noise).astype(np.float32), SR)
    f = FLAC(path)
    f.update({"title": f"Tone {hz}", "artist": "Sine Band", "album": "Tones"})
    f.save()
    return path


@pytest.fixture(scope="module")
def beets_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("beets")
    src = root / "incoming"
    src.mkdir()
    for hz in FREQS:
        write_tone(src / f"tone{hz}.flac", hz)
    (root / "config.yaml").write_text(f"""\
directory: {root / 'music'}
library: {root / 'beetsdir' / 'library.db'}
plugins: lyrebird
import:
  copy: yes
  write: no
paths:
  default: $album/$title
lyrebird:
  model: py:ui_library:TaggedToneModel
""")
    (root / "beetsdir").mkdir()
    out = beet(root, "import", "-A", "-q", src)
    assert len(list((root / "music" / "Tones").glob("*.flac"))) == 4, out
    return root


def beet(root: Path, *args, ok: bool = True) -> str:
    env = {**os.environ, "BEETSDIR": str(root / "beetsdir"), "HF_HUB_OFFLINE": "1",
           "PYTHONPATH": os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")])}
    res = subprocess.run([str(BEET), "-c", str(root / "config.yaml"), *map(str, args)],
                         capture_output=True, text=True, env=env, timeout=240)
    if ok:
        assert res.returncode == 0, res.stdout + res.stderr
    return res.stdout + (res.stderr if not ok else "")


def test_add_search_similar_playlist_and_incremental_updates(beets_dir):
    root = beets_dir
    out = beet(root, "lyrebird", "add")
    assert "added 4" in out and "failed 0" in out, out
    assert (root / "beetsdir" / "lyrebird" / "library.sqlite").is_file()

    # the chips as flexible attributes, usable in beets queries
    assert beet(root, "ls", "-f", "$title", "lyrebird_tags:440").split() == ["Tone", "440"]
    assert beet(root, "ls", "-f", "$lyrebird_tags", "title:Tone 880").strip() == \
        "tone at 880 Hz"

    # search: beets items in beets' format (-f works), best first
    assert beet(root, "lyrebird", "search", "tone at 880 Hz", "-k", "1", "-f",
                "$title").strip() == "Tone 880"
    default = beet(root, "lyrebird", "search", "tone at 880 Hz", "-k", "2").splitlines()
    assert default[0] == "Sine Band - Tones - Tone 880" and len(default) == 2
    assert "1 to 100" in beet(root, "lyrebird", "search", "x", "-k", "0", ok=False)

    # similar: like the first item the query matches, itself left out
    sim = beet(root, "lyrebird", "similar", "title:Tone 220", "-k", "3", "-f",
               "$title").splitlines()
    assert len(sim) == 3 and "Tone 220" not in sim

    # playlist: the playlist engine, paths from beets
    m3u = root / "night.m3u8"
    out = beet(root, "lyrebird", "playlist", "tone at 440 Hz", "-n", "2", "-o", m3u)
    assert "wrote 2 tracks" in out
    lines = m3u.read_text("utf-8").splitlines()
    assert lines[0] == "#EXTM3U" and lines[2] == str(root / "music" / "Tones" / "Tone 440.flac")

    # incremental: nothing changed
    assert "unchanged 4" in beet(root, "lyrebird", "add")

    # retagged (the file's content changes): re-embedded; moved: followed, not re-embedded;
    # removed from beets: removed from the library
    beet(root, "modify", "-y", "-w", "-M", "title:Tone 880", "comments=retagged")
    (root / "elsewhere").mkdir()
    beet(root, "move", "-d", root / "elsewhere", "title:Tone 440")
    beet(root, "remove", "-f", "title:Tone 1760")
    out = beet(root, "lyrebird", "add")
    assert "added 0, updated 1, moved 1, removed 1, unchanged 1, failed 0" in out, out
    moved = root / "elsewhere" / "Tones" / "Tone 440.flac"
    beet(root, "lyrebird", "playlist", "tone at 440 Hz", "-n", "1", "-o", m3u)
    assert m3u.read_text("utf-8").splitlines()[2] == str(moved)
    found = beet(root, "lyrebird", "search", "tone at 1760 Hz", "-k", "3", "-f", "$title")
    assert "Tone 1760" not in found and len(found.splitlines()) == 3
    assert beet(root, "lyrebird", "search", "tone at 880 Hz", "-k", "1", "-f",
                "$title $comments").strip() == "Tone 880 retagged"
    assert "unchanged 3" in beet(root, "lyrebird", "add")


def test_search_before_add_says_what_to_run(tmp_path):
    (tmp_path / "beetsdir").mkdir()
    (tmp_path / "config.yaml").write_text(
        f"directory: {tmp_path / 'm'}\nlibrary: {tmp_path / 'beetsdir' / 'l.db'}\n"
        "plugins: lyrebird\n")
    out = beet(tmp_path, "lyrebird", "search", "calm piano", ok=False)
    assert "run `beet lyrebird add` first" in out
    assert "usage: beet lyrebird add" in beet(tmp_path, "lyrebird", "nope", ok=False)
