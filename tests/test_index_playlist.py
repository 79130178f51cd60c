"""Playlists: diversity rules (one track per work, caps per artist and album), MMR, "A into B",
seeds, smooth order, and the export formats players read (M3U8, JSON, CSV)."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import mutagen
import numpy as np
import pytest
from tone_model import ToneModel, write_chords

from lyrebird.index import Library, Playlist

SR = 16000
# (file, tones in Hz, artist, album, work)
TRACKS = [
    ("a1", (430, 440), "Ann", "North", None),
    ("a2", (440, 460), "Ann", "North", None),
    ("a3", (440, 480), "Ann", "South", None),
    ("b1", (440, 500), "Bo", "East", "w-1"),
    ("b2", (445, 520), "Bo", "East", "w-1"),  # the same work as b1
    ("b3", (440, 540), "Bo", "West", None),
    ("c1", (440, 880), "Cy", "Sky", None),
    ("c2", (440, 1760), "Cy", "Sky", None),
    ("d1", (3000, 3200), "Café Ümlaut", "Ünder", None),
    ("d2", (3200, 3400), None, None, None),
]


@pytest.fixture(scope="module")
def lib(tmp_path_factory):
    root = tmp_path_factory.mktemp("pl")
    music = root / "music"
    music.mkdir()
    for name, freqs, artist, album, work in TRACKS:
        f = write_chords(music / f"{name}.flac", [freqs], seconds=12.0)
        tags = mutagen.File(f, easy=True)
        tags["title"] = f"Song {name}"
        for key, value in (("artist", artist), ("album", album), ("work", work)):
            if value:
                tags[key] = value
        tags.save()
    lib = Library.create(root / "lib", ToneModel())
    assert len(lib.add([music]).added) == len(TRACKS)
    yield lib
    lib.close()


def names(pl: Playlist) -> list[str]:
    return [Path(it.path).stem for it in pl]


def test_diversity_rules_hold(lib):
    pl = lib.playlist("a tone at 440 Hz", n=10, max_per_artist=2)
    got = names(pl)
    assert len(got) == len(set(got))  # a track appears once
    assert not {"b1", "b2"} <= set(got)  # one track per work
    artists = [it.artist for it in pl if it.artist]
    assert all(artists.count(a) <= 2 for a in artists)
    assert [it.position for it in pl] == list(range(1, len(pl) + 1))
    albums = [it.album for it in lib.playlist("a tone at 440 Hz", n=10, max_per_album=1)
              if it.album]
    assert len(albums) == len(set(albums))
    assert len(lib.playlist("a tone at 440 Hz", n=3)) == 3


def test_lambda_trades_relevance_for_diversity(lib):
    relevant = lib.playlist("a tone at 440 Hz", n=4, lam=1.0)
    scores = [it.score for it in relevant]
    assert scores == sorted(scores, reverse=True)  # λ = 1: plain relevance order
    diverse = lib.playlist("a tone at 440 Hz", n=4, lam=0.2)
    vecs = lambda pl: np.stack([lib.audio_vector(it.path) for it in pl])  # noqa: E731
    def spread(pl):
        v = vecs(pl)
        return float((v @ v.T)[np.triu_indices(len(v), 1)].mean())
    assert spread(diverse) < spread(relevant)


def test_a_into_b_moves_from_a_to_b(lib):
    pl = lib.playlist("tone at 440 Hz into tone at 3200 Hz", n=6)
    assert pl.params["query"] == "tone at 440 Hz" and pl.params["into"] == "tone at 3200 Hz"
    got = names(pl)
    assert got[0].startswith(("a", "b", "c")) and got[-1].startswith("d")
    same = lib.playlist("tone at 440 Hz", into="tone at 3200 Hz", n=6)
    assert names(same) == got


def test_seeds_and_smooth_order(lib):
    ids = {Path(r.path).stem: r.id for r in lib.tracks()}
    pl = lib.playlist(seeds=[ids["d1"]], n=3)
    assert ids["d1"] not in pl.track_ids() and names(pl)[0] == "d2"
    rel = lib.playlist("tone at 440 Hz", n=6)
    smooth = lib.playlist("tone at 440 Hz", n=6, order="smooth")
    assert sorted(rel.track_ids()) == sorted(smooth.track_ids())
    assert smooth.track_ids()[0] == rel.track_ids()[0]


def test_bad_arguments(lib):
    for kwargs, msg in (({"n": 0}, "n must be"), ({"lam": 2.0}, "lam must be"),
                        ({"order": "random"}, "order must be"),
                        ({"max_per_artist": 0}, "max_per_artist")):
        with pytest.raises(ValueError, match=msg):
            lib.playlist("tone at 440 Hz", **kwargs)
    with pytest.raises(ValueError, match="query or seed"):
        lib.playlist()


EXTINF = re.compile(r"^#EXTINF:(\d+),(.+)$")


def test_m3u8_is_what_players_read(lib, tmp_path):
    pl = lib.playlist("tone at 3200 Hz", n=2)
    out = tmp_path / "lists" / "out.m3u8"
    out.parent.mkdir()
    for relative in (False, True):
        pl.write_m3u8(out, relative=relative)
        raw = out.read_bytes()
        assert not raw.startswith(b"\xef\xbb\xbf")  # UTF-8 without a BOM
        lines = raw.decode("utf-8").splitlines()
        assert lines[0] == "#EXTM3U" and len(lines) == 1 + 2 * len(pl)
        for it, (info, path) in zip(pl, zip(lines[1::2], lines[2::2], strict=True), strict=True):
            m = EXTINF.match(info)
            assert m and int(m.group(1)) == 12
            assert m.group(2) == (f"{it.artist} - {it.title}" if it.artist else it.title)
            assert Path(path).is_absolute() != relative
            assert (out.parent / path).resolve() == Path(it.path).resolve()
    assert "#EXTINF:12,Café Ümlaut - Song d1" in out.read_text(encoding="utf-8")


def test_json_and_csv_export(lib, tmp_path):
    pl = lib.playlist("tone at 440 Hz", n=3)
    data = json.loads(pl.write_json(tmp_path / "p.json").read_text(encoding="utf-8"))
    assert [i["track_id"] for i in data["items"]] == pl.track_ids()
    assert data["params"]["n"] == 3
    rows = list(csv.DictReader(io.StringIO(pl.write_csv(tmp_path / "p.csv").read_text("utf-8"))))
    assert [int(r["track_id"]) for r in rows] == pl.track_ids()
    assert {"position", "path", "title", "artist", "album", "duration_s", "score"} <= set(rows[0])
