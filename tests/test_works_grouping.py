"""One result per work, decided once in the library (#27): the Python API, the CLI, the JSON
API and the app return the same list for the same query; a flag turns grouping off."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from starlette.testclient import TestClient
from tone_model import ToneModel
from ui_library import tag_file, tone

from lyrebird.cli import main
from lyrebird.index import Library
from lyrebird.ui import LibraryService
from lyrebird.ui.api import make_api

MODEL = "py:tone_model:ToneModel"


@pytest.fixture(scope="module")
def library(tmp_path_factory):
    """Two takes of one work ("Sonata"), the same title by another artist, an untitled file."""
    d = tmp_path_factory.mktemp("works")
    music = d / "music"
    music.mkdir()
    tag_file(tone(music / "a1.flac", 440), title="Sonata", artist="Anna")
    tag_file(tone(music / "a2.flac", 880), title="Sonata ", artist="anna")
    tag_file(tone(music / "b.flac", 1760), title="Sonata", artist="Bea")
    tone(music / "c.flac", 220)
    r = CliRunner().invoke(main, ["index", "create", str(d / "lib"), "--model", MODEL])
    assert r.exit_code == 0, r.output
    with Library.open(d / "lib", model=ToneModel()) as lib:
        lib.add([music])
    return d / "lib"


def test_every_face_returns_the_same_grouped_list(library):
    q = "tone at 440 Hz"
    with Library.open(library, model=ToneModel(), readonly=True) as lib:
        grouped = lib.search(q, k=4)
        flat = lib.search(q, k=4, group=False)
    assert len(flat) == 4 and len(grouped) == 3
    names = [h.path.rsplit("/", 1)[-1] for h in grouped]
    assert names[0] == "a1.flac" and "a2.flac" not in names
    assert grouped[0].more_of_work == 1 and all(h.more_of_work == 0 for h in grouped[1:])
    ids = [h.track_id for h in grouped]
    svc = LibraryService(library, model=ToneModel())
    assert [h["track_id"] for h in svc.search(q, 4)] == ids
    with TestClient(make_api(svc)) as c:
        body = c.get("/search", params={"q": q, "k": 4}).json()
        assert [h["track_id"] for h in body["hits"]] == ids
        assert body["hits"][0]["more_of_work"] == 1
        every = c.get("/search", params={"q": q, "k": 4, "group": "0"}).json()
        assert [h["track_id"] for h in every["hits"]] == [h.track_id for h in flat]
        assert c.get("/search", params={"q": q, "group": "maybe"}).status_code == 400
    r = CliRunner().invoke(main, ["search", str(library), q, "-k", "4", "--json"])
    assert r.exit_code == 0, r.output
    assert [x["track_id"] for x in json.loads(r.stdout)] == ids
    r = CliRunner().invoke(main, ["search", str(library), q, "-k", "4", "--json", "--no-group"])
    assert [x["track_id"] for x in json.loads(r.stdout)] == [h.track_id for h in flat]


def test_similar_leaves_out_the_query_tracks_own_work(library):
    with Library.open(library, model=ToneModel(), readonly=True) as lib:
        a1 = next(r.id for r in lib.tracks() if r.path.endswith("a1.flac"))
        names = [h.path.rsplit("/", 1)[-1] for h in lib.similar(a1, k=3)]
        assert "a2.flac" not in names and len(names) == 2
        every = [h.path.rsplit("/", 1)[-1] for h in lib.similar(a1, k=3, group=False)]
        assert "a2.flac" in every
