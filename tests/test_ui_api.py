"""The JSON API (``/api``): every endpoint's fields, 4xx with a message for bad input (never a
500 or a traceback), the upload limit, and ``--auth`` on the mounted API.

The library uses the transparent tone model, so "tone at 440 Hz" ranks the 440 Hz track first.
"""

from __future__ import annotations

import io
from pathlib import Path

import httpx
import numpy as np
import pytest
import soundfile as sf
from starlette.testclient import TestClient
from tone_model import ToneModel
from ui_library import FREQS, SR, tone

from lyrebird.ui import LibraryService, Limits, ServeConfig, Server, make_app
from lyrebird.ui.api import make_api

HIT_FIELDS = {"track_id", "path", "score", "start_s", "end_s", "title", "artist", "tags",
              "more_of_work",
              "audio_url"}


@pytest.fixture(scope="module")
def client(ui_library):
    svc = LibraryService(ui_library, model=ToneModel(), limits=Limits(300_000, 20.0))
    with TestClient(make_api(svc), raise_server_exceptions=False) as c:
        yield c


def wav_bytes(hz: float, seconds: float) -> bytes:
    buf = io.BytesIO()
    t = np.arange(int(seconds * SR)) / SR
    sf.write(buf, (0.4 * np.sin(2 * np.pi * hz * t)).astype("float32"), SR, format="WAV")
    return buf.getvalue()


def test_search_similar_tracks_and_info(client):
    r = client.get("/search", params={"q": "tone at 440 Hz", "k": 3})
    assert r.status_code == 200
    body = r.json()
    assert body["query"] == "tone at 440 Hz" and body["k"] == 3 and len(body["hits"]) == 3
    top = body["hits"][0]
    assert set(top) == HIT_FIELDS and Path(top["path"]).name == "tone440.flac"
    assert top["audio_url"] == f"/lyrebird/audio/{top['track_id']}"
    sim = client.get(f"/similar/{top['track_id']}", params={"k": 10}).json()
    assert top["track_id"] not in [h["track_id"] for h in sim["hits"]]
    assert len(sim["hits"]) == len(FREQS) - 1
    track = client.get(f"/tracks/{top['track_id']}").json()
    assert track["track_id"] == top["track_id"] and track["duration_s"] == pytest.approx(12.0)
    info = client.get("/info").json()
    assert info["tracks"] == len(FREQS) and info["readonly"] is False


def test_uploads_raw_and_multipart(client):
    raw = client.post("/similar?k=1", content=wav_bytes(1760, 5.0),
                      headers={"content-type": "audio/wav"})
    assert raw.status_code == 200, raw.text
    hit = raw.json()["hits"][0]
    assert Path(hit["path"]).name == "tone1760.flac" and hit["end_s"] > hit["start_s"]
    form = client.post("/tag", files={"file": ("q.wav", wav_bytes(880, 3.0), "audio/wav")},
                       data={"tags": "tone at 440 Hz, tone at 880 Hz"})
    assert form.status_code == 200, form.text
    tags = form.json()["tags"]
    assert [t["tag"] for t in tags] == ["tone at 880 Hz", "tone at 440 Hz"]
    assert form.json()["template"] == "A {} track"


def test_playlist_endpoint(client):
    r = client.get("/playlist", params={"q": "tone at 440 Hz", "n": 3, "lam": 0.5})
    assert r.status_code == 200, r.text
    body = r.json()
    assert len(body["items"]) == 3 and body["params"]["n"] == 3
    assert {"position", "track_id", "path", "duration_s", "score"} <= set(body["items"][0])
    seeds = client.get("/playlist", params={"seeds": str(body["items"][0]["track_id"]), "n": 2})
    assert seeds.status_code == 200
    assert body["items"][0]["track_id"] not in [i["track_id"] for i in seeds.json()["items"]]


@pytest.mark.parametrize(("method", "url", "kwargs", "status", "says"), [
    ("get", "/search", {}, 400, "q is required"),
    ("get", "/search?q=x&k=0", {}, 400, "k must be between 1 and 100"),
    ("get", "/search?q=x&k=ten", {}, 400, "k must be an integer"),
    ("get", "/similar/999", {}, 404, "No track with id 999"),
    ("get", "/similar/abc", {}, 404, "No track with id abc"),
    ("get", "/tracks/999", {}, 404, "No track with id 999"),
    ("get", "/playlist", {}, 400, "give q"),
    ("get", "/playlist?q=x&n=0", {}, 400, "n must be between"),
    ("get", "/playlist?seeds=1,x", {}, 400, "seeds must be"),
    ("get", "/playlist?seeds=999", {}, 404, "No track with id 999"),
    ("get", "/playlist?q=x&order=random", {}, 400, "order must be"),
    ("post", "/similar", {"content": b""}, 400, "upload is empty"),
    ("post", "/similar", {"content": b"not audio at all"}, 400, "is not audio"),
    ("post", "/tag", {"files": {"other": ("a.wav", b"x")}}, 400, "field named 'file'"),
    ("post", "/similar", {"content": b"0" * 400_000}, 413, "limit"),
    ("get", "/nowhere", {}, 404, "no such endpoint"),
])
def test_bad_input_gets_a_4xx_with_a_message(client, method, url, kwargs, status, says):
    r = getattr(client, method)(url, **kwargs)
    assert r.status_code == status, r.text
    assert says in r.json()["error"]
    assert "Traceback" not in r.text


def test_api_is_mounted_beside_the_app_with_auth(ui_library, tmp_path):
    svc = LibraryService(ui_library, model=ToneModel(), allow_add=False)
    srv = Server(make_app(svc, ServeConfig(auth=("ann", "s3cret"))), port=0).start()
    try:
        url = srv.url + "api/search?q=tone+at+880+Hz&k=1"
        assert httpx.get(url).status_code == 401
        r = httpx.get(url, auth=("ann", "s3cret"))
        assert r.status_code == 200 and Path(r.json()["hits"][0]["path"]).name == "tone880.flac"
        info = httpx.get(srv.url + "api/info", auth=("ann", "s3cret")).json()
        assert info["readonly"] is True
        q = tone(tmp_path / "q.wav", 220, 4.0)
        with open(q, "rb") as fh:
            up = httpx.post(srv.url + "api/similar?k=1", auth=("ann", "s3cret"),
                            files={"file": ("q.wav", fh, "audio/wav")})
        assert up.status_code == 200 and Path(up.json()["hits"][0]["path"]).name == "tone220.flac"
    finally:
        srv.stop()
