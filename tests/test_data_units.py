"""Units of the data package: keys, tags, captions, splits, rendering, Debian gathering."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest

from lyrebird.mulan.vocabulary import mtt_top50
from lyrebird.train.corpora import debian_music
from lyrebird.train.corpora.captions import LANGS, compose_captions
from lyrebird.train.corpora.demo_corpus import DemoConfig, allocate, assign_splits
from lyrebird.train.corpora.keys import estimate_key, parse_abc_key, parse_humdrum_key
from lyrebird.train.corpora.tags import tags_for


@pytest.mark.parametrize("text,expected", [
    ("G", (7, "major")), ("Gm", (7, "minor")), ("Ador", (9, "dorian")), ("F#m", (6, "minor")),
    ("Bb", (10, "major")), ("D Mix", (2, "mixolydian")), ("Amin", (9, "minor")),
    ("E minor", (4, "minor")), ("none", None), ("HP", None),
])
def test_parse_abc_key(text, expected):
    assert parse_abc_key(text) == expected


@pytest.mark.parametrize("tok,expected", [
    ("*G:mix", (7, "mixolydian")), ("*f#:", (6, "minor")), ("*E-:", (3, "major")),
    ("*A:aeo", (9, "minor")), ("*k[b-]", None),
])
def test_parse_humdrum_key(tok, expected):
    assert parse_humdrum_key(tok) == expected


def test_estimate_key_on_scales():
    c_major = np.array([60, 62, 64, 65, 67, 69, 71, 72, 67, 64, 60])
    tonic, mode, r = estimate_key(c_major, np.ones(len(c_major)))
    assert (tonic, mode) == (0, "major") and r > 0.7
    a_minor = np.array([57, 59, 60, 62, 64, 65, 68, 69, 64, 60, 57, 57])
    assert estimate_key(a_minor, np.ones(len(a_minor)))[:2] == (9, "minor")
    assert estimate_key(np.array([60]), np.array([1.0])) is None


def test_mtt_vocabulary_is_shipped():
    tags = mtt_top50()
    assert len(tags) == 50 and tags[0] == "guitar" and "no vocals" in tags


def test_tags_follow_labels():
    base = dict(collection="bach_chorales", style="chorale", ensemble="ensemble", n_voices=4,
                tempo_bpm=60.0, notes_per_s=1.5, dynamics="soft", key_exact=True, mode="minor",
                meter="4/4", extra_tags=["classical", "baroque", "chorale"])
    t = tags_for(dict(base, instruments=["choir"]))
    assert {"choir", "choral", "classical", "slow", "quiet", "minor", "polyphonic"} <= set(t)
    assert "no vocals" not in t and "solo" not in t
    t = tags_for(dict(base, instruments=["violin", "viola", "cello"], key_exact=False))
    assert {"violin", "cello", "strings", "no vocals"} <= set(t)
    assert "minor" not in t, "mode tag from an estimated key"
    t = tags_for(dict(collection="electronic", style="techno", instruments=["square lead",
                 "synth bass", "drum kit"], ensemble="ensemble", tempo_bpm=130.0,
                 notes_per_s=8.0, dynamics="loud"))
    assert {"techno", "electronic", "dance", "synth", "drums", "fast", "loud"} <= set(t)


def test_captions_in_every_language_and_keys_only_when_exact():
    labels = dict(clip_id="x", instrument="violin", style="reel", collection="oneills",
                  key_exact=True, tonic=2, mode="major", tempo_bpm=112.0, notes_per_s=7.0,
                  meter="2/2", dynamics="medium", origin="Ireland")
    caps = compose_captions(labels, per_lang=5)
    assert [c["lang"] for c in caps] == [lang for lang in LANGS for _ in range(5)]
    by = {lang: " ".join(c["text"] for c in caps if c["lang"] == lang) for lang in LANGS}
    assert "D major" in by["en"] and "D-Dur" in by["de"] and "ré majeur" in by["fr"]
    assert "re mayor" in by["es"] and "Violine" in by["de"] and "violon" in by["fr"]
    est = compose_captions(dict(labels, key_exact=False), per_lang=5)
    assert not any("major" in c["text"] or "Dur" in c["text"] or "majeur" in c["text"]
                   or "mayor" in c["text"] for c in est)
    assert compose_captions(labels) == compose_captions(labels)  # deterministic


def test_allocate_and_splits():
    cfg = DemoConfig()
    alloc = allocate(3200, cfg.mix)
    assert sum(alloc.values()) == 3200 and alloc["essen"] == 640
    assert sum(allocate(24, cfg.mix).values()) == 24
    works = {f"w{i}": ("a" if i % 3 else "b") for i in range(400)}
    s = assign_splits(works, 0, (0.8, 0.1, 0.1))
    counts = {k: list(s.values()).count(k) for k in ("train", "valid", "test")}
    assert counts == {"train": 320, "valid": 40, "test": 40}
    assert s == assign_splits(works, 0, (0.8, 0.1, 0.1))
    assert s != assign_splits(works, 1, (0.8, 0.1, 0.1))
    tiny = assign_splits({"a": "x", "b": "x", "c": "y", "d": "z"} | {f"e{i}": "q"
                         for i in range(8)}, 0, (0.8, 0.1, 0.1))
    assert set(tiny.values()) == {"train", "valid", "test"}


def test_render_fixed_length_and_deterministic():
    from lyrebird.train.corpora.render import Note, Renderer, add_room

    notes = [Note(0.1 * i, 0.3, 60 + i % 12, 90, 0) for i in range(40)]
    notes += [Note(0.5 * i, 0.1, 36 + 2 * (i % 2), 100, 9) for i in range(10)]
    progs = {0: (0, 40), 9: (128, 0)}
    with Renderer() as fresh:
        a = fresh.render(notes, progs, 3.0, start_s=1.0, room=(1.0, 0.3, 7))
    renderer = Renderer()
    renderer.render(notes[:5], {0: (0, 19)}, 1.7)  # an unrelated render first: no leak
    b = renderer.render(notes, progs, 3.0, start_s=1.0, room=(1.0, 0.3, 7))
    with Renderer() as fresh:
        c = fresh.render(notes, progs, 3.0, start_s=1.0, room=(1.0, 0.3, 7))
    assert a.shape == (3 * renderer.sr,) and a.dtype == np.float32
    assert np.array_equal(a, c), "a fresh renderer must reproduce its output bit for bit"
    assert np.abs(a - b).max() < 2e-3, "earlier renders must not leak into later ones"
    assert float(np.sqrt(np.mean(a ** 2))) > 1e-3
    # notes far past the window never extend it
    c = renderer.render([Note(100.0, 1000.0, 60, 100, 0)], progs, 2.0)
    assert c.shape == (2 * renderer.sr,) and float(np.abs(c).max()) == 0.0
    dry = renderer.render(notes, progs, 3.0)
    wet = add_room(dry, renderer.sr, 1.0, 0.3, 1)
    assert not np.array_equal(wet, dry) and np.array_equal(wet, add_room(dry, renderer.sr,
                                                                         1.0, 0.3, 1))
    renderer.close()


def test_collect_debian_music_extracts_pk3(tmp_path, monkeypatch, write, tones):
    pkg_dir = tmp_path / "usr" / "share" / "games"
    (pkg_dir / "music").mkdir(parents=True)
    (pkg_dir / "sounds").mkdir()
    write(pkg_dir / "music" / "theme.ogg", tones(22050, 1.0, (440.0,)), 22050)
    write(pkg_dir / "sounds" / "boom.ogg", tones(22050, 0.5, (220.0,)), 22050)
    inner = write(tmp_path / "inner.ogg", tones(22050, 1.0, (330.0,)), 22050)
    pk3 = pkg_dir / "0music.pk3"
    with zipfile.ZipFile(pk3, "w") as z:
        z.write(inner, "music/van_theme.ogg")
        z.writestr("maps/readme.txt", "not music")
    listing = {"game-music": [pkg_dir / "music" / "theme.ogg", pkg_dir / "sounds" / "boom.ogg",
                              pk3]}
    monkeypatch.setattr(debian_music, "package_files", lambda p: listing.get(p, []))
    out = tmp_path / "out"
    rep = debian_music.collect_debian_music(out, {"game-music": r"(?i)/music/",
                                                  "not-installed": "."})
    assert rep.files == {"game-music": 2, "not-installed": 0}
    assert rep.missing == ["not-installed"] and "apt-get install not-installed" in rep.install_hint
    got = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.ogg"))
    assert got[0] == "game-music/0music/music/van_theme.ogg"
    assert any(g.endswith("music/theme.ogg") for g in got) and not any("boom" in g for g in got)
    assert debian_music.collect_debian_music(out, {"game-music": r"(?i)/music/"}).files == {
        "game-music": 2}  # idempotent


@pytest.fixture
def write():
    from tests.conftest import write as _write

    return _write


@pytest.fixture
def tones():
    from tests.conftest import tones as _tones

    return _tones


def test_music21_catalogue_groups_duplicate_tunes():
    from lyrebird.train.corpora.music21_source import catalogue

    refs = catalogue("oneills")
    by_group: dict[str, list] = {}
    for r in refs:
        by_group.setdefault(r.group, []).append(r)
    # O'Neill's files 0626-0635 and 0626-0700 print the same tunes: one work each
    dup = [g for g, rs in by_group.items() if len({Path(r.relpath).name for r in rs}) > 1]
    assert dup and all(g.startswith("folk:") for g in dup)


def test_every_instrument_sounds_across_its_range_at_soft_dynamics():
    """The softest velocity the arranger uses must be audible for every instrument and pitch
    in its range before levelling (FluidR3's soft layers are quiet, down to about -73 dBFS)."""
    from lyrebird.train.corpora.arrange import DYNAMICS
    from lyrebird.train.corpora.demo_corpus import SILENCE_DBFS
    from lyrebird.train.corpora.instruments import INSTRUMENTS
    from lyrebird.train.corpora.render import Note, Renderer, rms_dbfs

    softest = DYNAMICS["soft"][0] - 6
    silent = []
    with Renderer() as r:
        for name, inst in INSTRUMENTS.items():
            vel = max(softest, inst.min_velocity)
            for p in sorted({inst.low, (inst.low + inst.high) // 2, inst.high}):
                wav = r.render([Note(0.0, 0.5, p, vel, 0)], {0: (0, inst.program)}, 0.8,
                               preroll_s=0.0)
                if rms_dbfs(wav) < SILENCE_DBFS:
                    silent.append((name, p, vel))
    assert not silent, f"silent notes: {silent}"


def test_renderer_keeps_stdout_clean_under_ci():
    """pyfluidsynth prints its library path at import when $CI is set; `--json` needs a clean stdout."""
    import os
    import subprocess
    import sys

    code = ("from lyrebird.train.corpora.render import Renderer\n"
            "with Renderer() as r: pass\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={**os.environ, "CI": "1"}, timeout=120, check=True)
    assert out.stdout == ""
