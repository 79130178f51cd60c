"""Titles and artists as people read them (issue #28): credits inside titles, file-name
titles, one spelling per composer."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from lyrebird.core.metadata import (
    looks_like_file_name,
    name_key,
    readable_title,
    split_credit,
    tidy_labels,
    unify_names,
)


@pytest.mark.parametrize("title, expected", [
    ("Gargl by |Mordred|", ("Gargl", "Mordred")),
    ("Gargl by |Mordred", ("Gargl", "Mordred")),          # a module title cut short
    ("Space Debris (by Captain)", ("Space Debris", "Captain")),
    ("Ode - by [Jester]", ("Ode", "Jester")),
    ("Night Run - by Sectoid", ("Night Run", "Sectoid")),
    ("Stand by Me", ("Stand by Me", None)),               # no delimiter: a title, not a credit
    ("Standby", ("Standby", None)),
])
def test_split_credit(title, expected):
    assert split_credit(title) == expected


@pytest.mark.parametrize("text, expected", [
    ("biniax common00", "Biniax Common 00"),
    ("back1", "Back 1"),
    ("level_3_theme", "Level 3 Theme"),
    ("DJ Foo 2", "DJ Foo 2"),                            # capitals are kept as written
])
def test_readable_title(text, expected):
    assert readable_title(text) == expected


def test_file_name_titles_are_recognised_and_real_titles_kept():
    assert looks_like_file_name("biniax common00") and looks_like_file_name("back_1")
    assert not looks_like_file_name("calm night") and not looks_like_file_name("Track 2")
    assert tidy_labels("calm night", None) == ("calm night", None)
    assert tidy_labels(None, None, "menu_loop2") == ("Menu Loop 2", None)
    assert tidy_labels("Gargl by |Mordred|", "Someone") == ("Gargl by |Mordred|", "Someone")


def test_unify_names_accents_and_prefixes():
    assert name_key("Àlex") == "alex"
    got = unify_names(["Àlex", "Alex Almarza", "Alex Almarza", "Bob"])
    assert got["Àlex"] == got["Alex Almarza"] == "Alex Almarza"
    assert got["Bob"] == "Bob"
    assert unify_names(["José", "Jose"]) == {"José": "José", "Jose": "José"}
    # a short name that prefixes two different people stays as it is
    amb = unify_names(["Alex", "Alex Almarza", "Alex Smith"])
    assert amb["Alex"] == "Alex" and amb["Alex Smith"] == "Alex Smith"


def test_library_reads_credit_and_file_name_titles(tmp_path):
    """Ingest (``file_metadata``) takes the artist out of a "by |Artist|" title."""
    from mutagen.flac import FLAC

    from lyrebird.index.ingest import file_metadata

    p = tmp_path / "a.flac"
    sf.write(p, np.zeros(1600, np.float32), 16000)
    f = FLAC(p)
    f["title"] = "Gargl by |Mordred|"
    f.save()
    meta = file_metadata(p)
    assert (meta["title"], meta["artist"]) == ("Gargl", "Mordred")
    f["title"] = "biniax common00"
    f.save()
    assert file_metadata(p)["title"] == "Biniax Common 00"


def test_demo_real_tags_unify_composers_per_package():
    from lyrebird.demo_real import real_tags

    rows = [dict(path=f"p{i}", title=t, artist=a, composer=None, album=None, genre=None,
                 licence=None, package=pkg, package_path=pp, track_id=f"w{i}")
            for i, (t, a, pkg, pp) in enumerate([
                ("Intro", "Àlex", "fretsonfire-songs-sectoid", "a/intro.ogg"),
                ("Outro", "Alex Almarza", "fretsonfire-songs-sectoid", "a/outro.ogg"),
                (None, None, "biniax2-data", "music/common00.ogg"),
                ("Gargl by |Mordred|", None, "lordsawar-data", "m/gargl.xm")])]
    tags = real_tags(pd.DataFrame(rows))
    assert tags["p0"]["artist"] == tags["p1"]["artist"] == "Alex Almarza"
    assert tags["p2"]["title"] == "Common 00"
    assert (tags["p3"]["title"], tags["p3"]["artist"]) == ("Gargl", "Mordred")


def test_module_title_credit_becomes_the_artist(tmp_path):
    """A tracker module's title "Gargl by |Mordred|" gives the corpus a title and an artist."""
    from lyrebird.train.corpora.debian_sources import SourceItem, file_text

    data = bytearray(1084)
    data[0:20] = b"Gargl by |Mordred|\x00\x00"
    data[1080:1084] = b"M.K."
    mod = tmp_path / "gargl.mod"
    mod.write_bytes(bytes(data))
    item = SourceItem("lordsawar-data", str(mod), "module", str(mod), "mod")
    labels, _ = file_text(item, mod)
    assert labels == {"title": "Gargl", "artist": "Mordred"}
