"""The real-recording corpus builder on tiny packages made in the test (no Debian packages).

One fake package tree holds every text form the builder reads: a ``.tags`` sidecar next to an
extension-less Ogg file, Ogg members of a ``.pk3`` (one corrupt), a Frets on Fire folder
(``song.ogg`` + stem + Latin-1 ``song.ini``), a SuperTuxKart ``.music`` XML file, a tracker
module written byte by byte (rendered when ``openmpt123`` is installed) and a broken one.
"""

from __future__ import annotations

import json
import struct
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from lyrebird.train.corpora import read_manifest, validate_manifest
from lyrebird.train.corpora.debian_corpus import DebianConfig, build_debian_corpus
from lyrebird.train.corpora.debian_packages import PackageSpec, folder_package
from lyrebird.train.corpora.module_render import module_text, openmpt123, sniff
from lyrebird.train.corpora.summary import format_summary, summarize

SR = 8000
GAME = "usr/share/games/testgame"
COPYRIGHT = """Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/

Files: *
Copyright: 2020 Someone
License: GPL-2+

Files: data/music/*
Copyright: 2020 A Composer
License: CC-BY-SA-3.0
"""


def music(seconds: float, seed: int) -> np.ndarray:
    """Changing notes with onsets (not ambience, not a loop)."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(int(seconds * 4)):
        f = rng.choice([220.0, 247.0, 262.0, 294.0, 330.0, 349.0, 392.0, 440.0, 523.0])
        t = np.arange(SR // 4) / SR
        out.append(0.4 * np.sin(2 * np.pi * f * t) * np.exp(-6 * t))
    return np.concatenate(out).astype(np.float32)


def ogg(path: Path, seconds: float, seed: int, **tags: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), music(seconds, seed), SR, format="OGG", subtype="VORBIS")
    if tags:
        from mutagen.oggvorbis import OggVorbis

        f = OggVorbis(str(path))
        for k, v in tags.items():
            f[k] = v
        f.save()
    return path


def tiny_mod(title: bytes, sample_name: bytes) -> bytes:
    """A valid 4-channel ProTracker module: one looping square-wave sample, one pattern."""
    empty = b"\0" * 22 + struct.pack(">HBBHH", 0, 0, 0, 0, 1)
    head = (title.ljust(20, b"\0") + sample_name.ljust(22, b"\0")
            + struct.pack(">HBBHH", 500, 0, 64, 0, 500) + empty * 30
            + bytes([1, 127]) + bytes(128) + b"M.K.")
    pattern = bytearray(1024)
    for row in range(0, 64, 8):  # C-3 (period 214) of sample 1 every 8 rows, channel 1
        pattern[row * 16:row * 16 + 4] = bytes([0x00, 214, 0x10, 0x00])
    wave = (np.sign(np.sin(np.arange(1000) * 2 * np.pi / 25)) * 60).astype(np.int8).tobytes()
    return head + bytes(pattern) + wave


@pytest.fixture(scope="module")
def fake_tree(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("pkgs")
    trees = {}
    # 1. tags beside extension-less files, and a zip with a good and a corrupt member
    r = root / "test-tags"
    ogg(r / GAME / "music/arctic", 34, 1)
    (r / GAME / "music/arctic.tags").write_text(
        "title=Frozen Lake\nartist=Ann Example\nalbum=Ice LP\nlicense=CC-BY 3.0\n")
    ogg(r / GAME / "music/cave", 33, 2, artist="Bob Example", title="Cave",
        genre="Female Fronted Metal")
    ogg(r / GAME / "music/wind_ambience.ogg", 12, 3)  # short: flagged
    ogg(r / GAME / "music/click.ogg", 0.5, 4)  # too short: dropped
    cut = ogg(root / "cut.ogg", 36, 10)  # no end-of-stream page: re-encoded ("repaired")
    (r / GAME / "music/cut.ogg").write_bytes(cut.read_bytes()[: int(cut.stat().st_size * .9)])
    good = ogg(root / "member.ogg", 31, 5, artist="Cy Example", title="Zipped",
               genre="Electronica")
    pk3 = r / GAME / "data/music.pk3"
    pk3.parent.mkdir(parents=True)
    with zipfile.ZipFile(pk3, "w", zipfile.ZIP_STORED) as z:
        z.write(good, "sound/cdtracks/zipped.ogg")
        z.write(good, "sound/cdtracks/broken.ogg")
    data = bytearray(pk3.read_bytes())
    second = data.find(b"PK\x03\x04", 1)  # the second member's data gets a bad CRC
    data[second + 300:second + 700] = b"\xff" * 400
    pk3.write_bytes(bytes(data))
    trees["test-tags"] = r
    # 2. Frets on Fire song folder (Latin-1 song.ini) and a SuperTuxKart .music file
    r = root / "test-songs"
    song = r / GAME / "songs/jogli"
    ogg(song / "song.ogg", 32, 6)
    ogg(song / "guitar.ogg", 32, 7)
    (song / "song.ini").write_bytes("[song]\nname = Laß' mein Jogli\nartist = Composed by "
                                    "Dee Example\n".encode("latin-1"))
    ogg(r / GAME / "tracks/race/race_theme.ogg", 31, 8)
    (r / GAME / "tracks/race/race.music").write_text(
        '<?xml version="1.0"?>\n<music title="Race Theme" composer="Eve Example (Evie)" '
        'file="race_theme.ogg"/>\n')
    ogg(r / GAME / "tracks/race/engine.ogg", 31, 9)  # no .music file: not music
    trees["test-songs"] = r
    # 3. modules: a tiny valid .mod and a broken .xm
    r = root / "test-modules"
    (r / GAME / "music").mkdir(parents=True)
    (r / GAME / "music/tiny.mod").write_bytes(tiny_mod("Laß' mein Jogli".encode("latin-1"),
                                                       b"square piano"))
    (r / GAME / "music/broken.xm").write_bytes(b"Extended Module: broken" + b"\x00" * 300)
    trees["test-modules"] = r
    for name, tree in trees.items():
        doc = tree / "usr/share/doc" / name
        doc.mkdir(parents=True)
        (doc / "copyright").write_text(COPYRIGHT)
    return trees


SPECS = [PackageSpec("test-tags", r"/music/|!sound/cdtracks/"),
         PackageSpec("test-songs", r"/songs/"), PackageSpec("test-modules", r"/music/")]


@pytest.fixture(scope="module")
def built(fake_tree, tmp_path_factory):
    out = tmp_path_factory.mktemp("out")
    sources = {n: folder_package(n, t) for n, t in fake_tree.items()}
    cfg = DebianConfig(min_duration_s=5.0, workers=1)
    rep = build_debian_corpus(out, cfg, specs=SPECS, sources=sources)
    return out, rep, sources, cfg


def test_manifest_valid_with_provenance(built):
    out, rep, _, _ = built
    df = read_manifest(out / "manifest.parquet")
    assert rep.valid and not validate_manifest(out / "manifest.parquet", check_files=True)
    for col in ("package", "package_path", "licence", "licence_source", "title", "artist",
                "album", "genre", "composer", "tags", "title_source", "genre_source",
                "label_sources", "is_loop", "flag_reason", "work_id", "kind"):
        assert col in df.columns, col
    assert df["package"].notna().all() and df["licence"].notna().all()
    by_title = df.set_index("title")
    frozen = by_title.loc["Frozen Lake"]  # .tags sidecar beside an extension-less file
    assert frozen["artist"] == "Ann Example" and frozen["title_source"] == "sidecar"
    assert frozen["package_path"].endswith("/music/arctic") and frozen["path"].endswith(".ogg")
    assert frozen["licence"] == "CC-BY-SA-3.0" and "data/music" in frozen["licence_source"]
    cave = by_title.loc["Cave"]
    assert cave["genre_source"] == "file tag"
    assert {"metal", "female fronted metal"} <= set(cave["tags"])
    assert json.loads(cave["label_sources"])["tags"]["metal"] == "genre"
    zipped = by_title.loc["Zipped"]  # zip member
    assert zipped["package_path"].endswith("music.pk3!sound/cdtracks/zipped.ogg")
    assert zipped["kind"] == "member" and "electronic" in zipped["tags"]


def test_songini_stems_and_music_xml(built):
    out, rep, _, _ = built
    df = read_manifest(out / "manifest.parquet")
    songs = df[df["package"] == "test-songs"]
    assert len(songs) == 2  # the mix and the .music track; no stem, no engine sound
    mix = songs[songs["kind"] == "mix"].iloc[0]
    assert mix["title"] == "Laß' mein Jogli" and "Ã" not in mix["title"]
    assert mix["artist"] == "Dee Example" and mix["title_source"] == "song.ini"
    assert rep.stems_left_out == 1 and not df["package_path"].str.contains("guitar").any()
    mixed = sf.read(out / mix["path"])[0]
    song = sf.read(built[2]["test-songs"].root / GAME / "songs/jogli/song.ogg")[0]
    assert np.abs(mixed).sum() > np.abs(song).sum() * 1.2  # the stem is in the mix
    race = songs[songs["title"] == "Race Theme"].iloc[0]
    assert race["composer"] == "Eve Example (Evie)" and race["title_source"] == "music xml"
    assert race["composer_source"] == "music xml"


def test_broken_items_reported_and_skipped(built):
    _, rep, _, _ = built
    reasons = {s["package_path"].rsplit("/", 1)[-1]: s["reason"] for s in rep.skipped}
    assert "corrupt" in reasons["broken.ogg"] or "decode" in reasons["broken.ogg"]
    assert "module" in reasons["broken.xm"] or "openmpt123" in reasons["broken.xm"]
    assert "too short" in reasons["click.ogg"]
    report = json.loads((Path(rep.out) / "build.json").read_text())
    assert report["timing"]["total_s"] >= 0 and report["packages"]["test-tags"]["tracks"] >= 3


def test_tracker_module_rendered(built):
    out = built[0]
    data = tiny_mod("Laß' mein Jogli".encode("latin-1"), b"square piano")
    assert sniff(data[:1100]) == "mod"
    text = module_text(data)
    assert text.title == "Laß' mein Jogli" and text.names == ["square piano"]
    if openmpt123() is None:
        pytest.skip("openmpt123 is not installed (apt-get install openmpt123): module "
                    "rendering not tested")
    df = read_manifest(out / "manifest.parquet")
    mod = df[df["kind"] == "module"].iloc[0]
    assert mod["title"] == "Laß' mein Jogli" and mod["title_source"] == "module title"
    assert "piano" in mod["tags"] and "square piano" in mod["module_text"]
    assert 5 < mod["duration_s"] < 12 and mod["is_loop"]  # shorter than 30 s: flagged
    assert mod["flag_reason"].startswith("short")


def test_truncated_ogg_repaired(built):
    out = built[0]
    df = read_manifest(out / "manifest.parquet")
    cut = df[df["package_path"].str.endswith("music/cut.ogg")].iloc[0]
    assert cut["repaired"].startswith("re-encoded to FLAC") and cut["path"].endswith(".flac")
    assert 25 < cut["duration_s"] < 36


def test_loops_flagged(built):
    out, _, _, _ = built
    df = read_manifest(out / "manifest.parquet")
    amb = df[df["package_path"].str.endswith("wind_ambience.ogg")].iloc[0]
    assert amb["is_loop"] and amb["flag_reason"].startswith("short")
    assert not df[df["title"] == "Frozen Lake"]["is_loop"].iloc[0]


def test_resume_is_cached_and_deterministic(built):
    out, rep, sources, cfg = built
    before = pd.read_parquet(out / "manifest.parquet")
    again = build_debian_corpus(out, cfg, specs=SPECS, sources=sources)
    failed = sum(1 for x in rep.skipped if "too short" not in x["reason"])
    assert failed == 2 and again.items == rep.items
    assert again.items_cached == rep.items - failed  # finished items kept, failures retried
    pd.testing.assert_frame_equal(before, pd.read_parquet(out / "manifest.parquet"))


def test_splits_disjoint_by_artist(built):
    out, _, _, _ = built
    df = read_manifest(out / "manifest.parquet")
    per_split = {s: set(g["artist"].dropna()) for s, g in df.groupby("split")}
    for a in per_split:
        for b in per_split:
            assert a == b or not per_split[a] & per_split[b]
    assert df.groupby("work_id")["split"].nunique().max() == 1


def test_summary_hours_tables(built):
    out, _, _, _ = built
    s = summarize(out / "manifest.parquet")
    assert set(s["hours_per_package"]) == {"test-tags", "test-songs", "test-modules"} or \
        openmpt123() is None
    assert "sidecar" in s["hours_per_label_source"]["title"]
    text = format_summary(s)
    assert "hours per package" in text and "hours per title source" in text
