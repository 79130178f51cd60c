"""Package-level genre labels (source ``package``) from a package's description, copyright
file and the texts in its music folders, on a fixture laid out like an installed package."""

from __future__ import annotations

import json

import pandas as pd
from test_debian_corpus import GAME, ogg

from lyrebird.train.corpora.debian_corpus import DebianConfig, build_debian_corpus
from lyrebird.train.corpora.debian_packages import PackageSpec, folder_package
from lyrebird.train.corpora.package_labels import PACKAGE_GENRES, package_labels

CONTROL = """Package: test-band
Version: 1.0
Description: songs for a rhythm game
 A data package of death metal songs by a band. Rock the castle!
"""
COPYRIGHT = """Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/

Files: *
Copyright: 2020 Someone
License: GPL-2+
Comment: the level music uses an orchestra sample set.

Files: data/music/*
Copyright: 2020 A Composer
License: CC-BY-SA-3.0
Comment: chiptunes written in a tracker

License: CC-BY-SA-3.0
 ... performers, actors, singers, musicians, dancers, jazz ...
"""


def fixture(root):
    ogg(root / GAME / "music/song.ogg", 31, 1, title="Song", artist="Ann Example",
        genre="Metal")
    (root / GAME / "music/README.txt").write_text("Recorded live: ambient music interludes.")
    (root / GAME / "levels").mkdir()
    (root / GAME / "levels/names.txt").write_text("Heavy Metal Hedgehogs\nTechno Rock\n")
    (root / "DEBIAN").mkdir()
    (root / "DEBIAN/control").write_text(CONTROL)
    doc = root / "usr/share/doc/test-band"
    doc.mkdir(parents=True)
    (doc / "copyright").write_text(COPYRIGHT)
    return folder_package("test-band", root)


SPEC = PackageSpec("test-band", r"/music/")


def test_labels_from_description_copyright_and_music_folder_texts(tmp_path):
    pl = package_labels(SPEC, fixture(tmp_path))
    # description: "death metal"; copyright comments: "orchestra", "chiptunes"; the music
    # folder's README: "ambient music". Not: "Rock the castle", the level names' "Heavy Metal"
    # and "Techno", or "jazz" inside a licence text.
    assert pl.labels == dict.fromkeys(
        ["ambient", "chiptune", "death metal", "electronic", "metal", "orchestral"], "package")
    assert pl.evidence["death metal"][0].startswith("description: ")
    assert any(e.startswith("copyright: ") for e in pl.evidence["chiptune"])
    assert pl.evidence["ambient"][0].startswith(f"/{GAME}/music/README.txt: ")
    assert all(set(v) <= set(sum(PACKAGE_GENRES.values(), ())) for v in [pl.labels])


def test_package_labels_reach_the_manifest_with_source_package(tmp_path):
    src = fixture(tmp_path / "pkg")
    out = tmp_path / "out"
    rep = build_debian_corpus(out, DebianConfig(min_duration_s=5.0, workers=1), specs=[SPEC],
                              sources={"test-band": src})
    df = pd.read_parquet(out / "manifest.parquet")
    assert len(df) == 1
    tags = set(df["tags"][0])
    assert {"metal", "death metal", "orchestral", "chiptune", "ambient"} <= tags
    sources = json.loads(df["label_sources"][0])["tags"]
    assert sources["metal"] == "genre"  # the file's own genre tag wins
    assert sources["death metal"] == "package" and sources["orchestral"] == "package"
    assert rep.package_labels["test-band"]["labels"] == list(package_labels(SPEC, src).labels)
