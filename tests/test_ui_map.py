"""The music map's data: projection, colourings, caching and refresh, and its HTTP routes."""

from __future__ import annotations

import json

import httpx
import numpy as np
import pytest
from ui_library import FREQS, TaggedToneModel, synthetic_library, tone

from lyrebird.ui import LibraryService, ServeConfig, Server, make_app
from lyrebird.ui.music_map import map_data
from lyrebird.ui.snapshot import project


def test_projection_keeps_clusters_apart_in_the_unit_square():
    rng = np.random.default_rng(0)
    a = rng.normal(0, 0.05, (50, 16)) + np.eye(16)[0]
    b = rng.normal(0, 0.05, (50, 16)) + np.eye(16)[1]
    xy = project(np.concatenate([a, b]).astype(np.float32))
    assert xy.shape == (100, 2) and xy.min() >= 0 and xy.max() <= 1
    gap = np.linalg.norm(xy[:50].mean(0) - xy[50:].mean(0))
    spread = max(xy[:50].std(0).max(), xy[50:].std(0).max())
    assert gap > 5 * spread
    assert np.array_equal(project(np.concatenate([a, b]).astype(np.float32)), xy)
    assert project(np.zeros((0, 16), np.float32)).shape == (0, 2)


def test_map_data_is_built_once_and_refreshed_when_tracks_are_added(tmp_path):
    lib = synthetic_library(tmp_path / "lib", 300)
    svc = LibraryService(lib, model=TaggedToneModel())
    body = map_data(svc)
    assert map_data(svc) is body  # cached with the library state
    d = json.loads(body)
    assert d["n"] == 300 and len(d["x"]) == len(d["label"]) == 300
    assert d["label"][0] == "Synthetic piece 0 — Composer 0"
    genre = d["colourings"]["genre"]
    assert set(genre["names"]) == {"folk", "chorale", "rock", "techno", "ambient", "jazz",
                                   "quartet"} and min(genre["idx"]) >= 0
    assert set(d["tags"]) <= set(TaggedToneModel.default_tags)
    music = tmp_path / "more"
    music.mkdir()
    tone(music / "new.flac", FREQS[0])
    svc.add_folder(str(music))
    assert json.loads(map_data(svc))["n"] == 301


@pytest.fixture(scope="module")
def server(ui_library):
    svc = LibraryService(ui_library, model=TaggedToneModel())
    srv = Server(make_app(svc, ServeConfig()), port=0).start()
    yield srv
    srv.stop()


def test_map_routes_answer_and_refuse_bad_input(server):
    page = httpx.get(server.url + "lyrebird/map")
    assert page.status_code == 200 and "<canvas" in page.text
    assert "http://" not in page.text and "https://" not in page.text  # nothing from outside
    d = httpx.get(server.url + "lyrebird/map/data").json()
    assert d["n"] == len(FREQS)
    hl = httpx.get(server.url + "lyrebird/map/search", params={"q": "tone at 880 Hz"}).json()
    assert d["label"][d["ids"].index(hl["ids"][0])] == "tone880.flac"
    sim = httpx.get(server.url + f"lyrebird/map/similar/{hl['ids'][0]}").json()
    assert sim["title"] == "tone880.flac" and len(sim["hits"]) == len(FREQS) - 1
    if d["tags"]:
        vals = httpx.get(server.url + "lyrebird/map/tag", params={"name": d["tags"][0]}).json()
        assert len(vals["values"]) == len(FREQS)
    bad = [("lyrebird/map/search", {"q": " "}, 400, "Type a query"),
           ("lyrebird/map/tag", {"name": "no such tag"}, 400, "No tag"),
           ("lyrebird/map/similar/9999", {}, 404, "No track with id 9999")]
    for route, params, status, msg in bad:
        r = httpx.get(server.url + route, params=params)
        assert r.status_code == status and msg in r.json()["error"], route
