"""The real recordings in ``lyrebird demo``: test split only, titled, a missing package named.

Fake package folders stand in for the Debian packages (offline, seconds): the demo builds them
with the corpus's own code, keeps test-split tracks, and never writes an installed file.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from lyrebird.train.corpora import debian_corpus
from lyrebird.train.corpora.debian_packages import (
    DEMO_PACKAGES,
    PACKAGES,
    PackageSpec,
    folder_package,
)

SR = 8000
GAME = "usr/share/games/fakegame"
COPYRIGHT = ("Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\n"
             "Files: *\nCopyright: 2020 Someone\nLicense: CC-BY-SA-3.0\n")
SPECS = [PackageSpec("fake-metal", r"/music/"), PackageSpec("fake-missing", r"/music/")]
ROOT = Path(__file__).parents[1]


def _ogg(path: Path, seconds: float, seed: int, **tags: str) -> Path:
    """Changing notes with onsets (music, not a loop), with Vorbis comments."""
    rng = np.random.default_rng(seed)
    t = np.arange(SR // 4) / SR
    notes = [0.4 * np.sin(2 * np.pi * rng.choice([220.0, 262.0, 330.0, 392.0, 523.0]) * t)
             * np.exp(-6 * t) for _ in range(int(seconds * 4))]
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), np.concatenate(notes).astype(np.float32), SR, format="OGG",
             subtype="VORBIS")
    from mutagen.oggvorbis import OggVorbis

    f = OggVorbis(str(path))
    for k, v in tags.items():
        f[k] = v
    f.save()
    return path


@pytest.fixture(scope="module")
def fake_package(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("fake-metal")
    _ogg(root / GAME / "music/chaos.ogg", 33, 1, title="Chaos God", artist="Ann Example",
         genre="Death Metal")
    _ogg(root / GAME / "music/war.ogg", 32, 2, title="War of Freedom", artist="Bob Example")
    _ogg(root / GAME / "music/jingle.ogg", 31, 3, title="Jingle", artist="Bob Example")
    doc = root / "usr/share/doc/fake-metal"
    doc.mkdir(parents=True)
    (doc / "copyright").write_text(COPYRIGHT)
    return root


@pytest.fixture
def fake_debian(fake_package, monkeypatch) -> dict:
    """``fake-metal`` installed, ``fake-missing`` not; the demo's packages are these two.
    Records the config of every corpus build."""
    import lyrebird.demo_real as demo_real

    builds = []
    real_build = debian_corpus.build_debian_corpus

    def build(out, cfg, **kw):
        builds.append(cfg)
        return real_build(out, cfg, **kw)

    monkeypatch.setattr(demo_real, "demo_specs", lambda: list(SPECS))
    monkeypatch.setattr(debian_corpus, "installed_package", lambda name: folder_package(
        name, fake_package) if name == "fake-metal" else None)
    monkeypatch.setattr(debian_corpus, "build_debian_corpus", build)
    return {"builds": builds, "root": fake_package}


def test_demo_packages_are_corpus_packages_that_setup_installs():
    setup = (ROOT / ".ci" / "setup").read_text()
    apt = re.search(r"APT_PACKAGES=\((.*?)\n\)", setup, re.S).group(1)
    listed = {w for line in apt.splitlines() for w in line.split("#")[0].split()}
    assert set(DEMO_PACKAGES) <= set(PACKAGES) and set(DEMO_PACKAGES) <= listed


def test_demo_packages_are_in_the_test_split_of_the_built_corpus():
    """On a machine with the complete corpus built, its own split puts them in test."""
    from lyrebird.train.corpora.debian_splits import outside_test

    man = ROOT / "data" / "debian-music" / "manifest.parquet"
    if not man.is_file():
        pytest.skip("no complete real corpus here (lyrebird data debian-music --large)")
    df = pd.read_parquet(man, columns=["package", "split"])
    if set(df["package"]) != set(PACKAGES):
        pytest.skip("the corpus here is not the complete build")
    assert outside_test(df.to_dict("records"), DEMO_PACKAGES) == {}


def test_a_complete_build_reports_a_demo_package_outside_test():
    tracks = [{"package": p, "split": "test"} for p in DEMO_PACKAGES]
    report = debian_corpus.DebianReport(out="o", manifest="m")
    specs = list(PACKAGES.values())
    assert debian_corpus._demo_split_problems(specs, report, tracks) == []
    tracks[0]["split"] = "train"
    (problem,) = debian_corpus._demo_split_problems(specs, report, tracks)
    assert problem.startswith(f"{DEMO_PACKAGES[0]}: tracks in train") and "DEMO_PACKAGES" in problem
    # a partial build has another split: nothing to check there
    assert debian_corpus._demo_split_problems(specs[:5], report, tracks) == []


def test_demo_adds_titled_test_split_tracks_and_names_a_missing_package(fake_debian, tmp_path):
    from tone_model import ToneModel

    from lyrebird.demo import DemoSettings, build_demo, demo_queries, summary
    from lyrebird.demo_real import REAL_QUERIES
    from lyrebird.index import Library

    installed = {p: p.read_bytes() for p in (fake_debian["root"] / GAME / "music").iterdir()}
    settings = DemoSettings(tmp_path / "d", clips=2, model="py:tone_model:ToneModel")
    res = build_demo(settings)
    (cfg,) = fake_debian["builds"]  # the demo's packages, all held out in test
    assert cfg.packages == cfg.holdout_packages == ("fake-metal", "fake-missing")
    real = res.real
    assert real["packages"] == ["fake-metal"] and real["missing"] == ["fake-missing"]
    assert real["install"] == "sudo apt-get install --no-install-recommends fake-missing"
    assert real["tracks"] == 3 and res.library["tracks"] == 5
    text = summary(res)
    assert "real recordings: 3 tracks" in text and "fake-missing" in text
    assert "`sudo apt-get install --no-install-recommends fake-missing`" in text
    assert demo_queries(res)[: len(REAL_QUERIES)] == REAL_QUERIES
    with Library.open(settings.library_dir, model=ToneModel(), readonly=True) as lib:
        rows = {r.title: r for r in lib.tracks() if "/real/" in r.path}
    assert set(rows) == {"Chaos God", "War of Freedom", "Jingle"}
    chaos = rows["Chaos God"]
    assert (chaos.artist, chaos.genre) == ("Ann Example", "Death Metal")
    assert chaos.file_tags["license"] == "CC-BY-SA-3.0" and chaos.file_tags["album"] == "fake-metal"
    assert len({r.file_tags["work"] for r in rows.values()}) == 3  # never merged as one work
    assert not any(Path(r.path).is_symlink() for r in rows.values())
    from lyrebird.ui import LibraryService
    from lyrebird.ui.views import hit_card

    hits = LibraryService(settings.library_dir, model=ToneModel()).search("tone at 440 Hz", 10)
    licences = {h["title"]: h["licence"] for h in hits}
    assert len(hits) == 5 and licences["Chaos God"] == "CC-BY-SA-3.0"
    assert sum(v is None for v in licences.values()) == 2  # the synthetic pieces have none
    card = hit_card(next(h for h in hits if h["title"] == "Chaos God"), 1)
    assert "Chaos God — Ann Example" in card and "licence CC-BY-SA-3.0" in card
    assert {p: p.read_bytes() for p in installed} == installed  # installed files untouched
    again = build_demo(settings)  # cached: nothing re-tagged or re-added
    assert again.real["tagged"] == 0 and again.library["added"] == 0
    assert again.library["tracks"] == 5


def test_only_test_split_tracks_that_are_not_loops_are_kept(fake_debian, tmp_path, monkeypatch):
    """Were a package not held out (or a track flagged), its rows would be left out."""
    from lyrebird.demo_real import build_real_part

    build = debian_corpus.build_debian_corpus

    def one_train_one_loop(out, cfg, **kw):
        rep = build(out, cfg, **kw)
        df = pd.read_parquet(rep.manifest)
        df.loc[0, "split"], df.loc[1, "is_loop"] = "train", True
        df.to_parquet(rep.manifest)
        return rep

    monkeypatch.setattr(debian_corpus, "build_debian_corpus", one_train_one_loop)
    part = build_real_part(tmp_path / "real", workers=1)
    assert len(part.table) == 1 and (part.table["split"] == "test").all()
    assert part.report["left_out"] == {"not in the test split": 1, "loops or ambience": 1}
    assert all(f.is_file() for f in part.files())


def test_no_real_part_when_switched_off(fake_debian, tmp_path):
    from lyrebird.demo import DEMO_QUERIES, DemoSettings, build_demo, demo_queries

    res = build_demo(DemoSettings(tmp_path / "d", clips=2, model="py:tone_model:ToneModel",
                                  real=False))
    assert res.real == {} and not fake_debian["builds"] and res.library["tracks"] == 2
    assert demo_queries(res) == DEMO_QUERIES
    from lyrebird.ui.app import library_examples  # stored: `lyrebird serve` shows the same

    assert library_examples(res.library["path"]) == DEMO_QUERIES
