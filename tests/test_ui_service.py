"""The app's service and HTTP surface: results, limits, add-folder reports, path safety, auth,
and a burst of concurrent users served through the queue.

The library uses the transparent tone model (``tone_model.py``), so "tone at 440 Hz" must rank
the 440 Hz track first and a 880 Hz clip must tag as "tone at 880 Hz".
"""

from __future__ import annotations

import threading
from pathlib import Path

import httpx
import pytest
from tone_model import ToneModel
from ui_library import FREQS, tone

from lyrebird.index import Library
from lyrebird.ui import LibraryService, Limits, ServeConfig, Server, UserError, make_app, parse_auth


def test_search_similar_and_tag_follow_the_model(ui_service, tmp_path):
    hits = ui_service.search("tone at 440 Hz", k=3)
    assert len(hits) == 3 and Path(hits[0]["path"]).name == "tone440.flac"
    assert hits[0]["score"] > hits[1]["score"]
    assert 0.0 <= hits[0]["start_s"] < hits[0]["end_s"]
    tid = hits[0]["track_id"]
    sim = ui_service.similar(tid, k=10)
    assert tid not in [h["track_id"] for h in sim] and len(sim) == len(FREQS) - 1
    up = ui_service.similar(str(tone(tmp_path / "q.wav", 1760, 5.0)), k=1)
    assert Path(up[0]["path"]).name == "tone1760.flac"
    scores = ui_service.tag_audio(tone(tmp_path / "t.wav", 880, 5.0),
                               ["tone at 440 Hz", "tone at 880 Hz", "tone at 1760 Hz"])
    assert next(iter(scores)) == "tone at 880 Hz"
    assert list(scores.values()) == sorted(scores.values(), reverse=True)


def test_bad_requests_get_clear_messages(ui_service, tmp_path):
    with pytest.raises(UserError, match="Type a query"):
        ui_service.search("  ")
    with pytest.raises(UserError, match="k must be between 1 and 100"):
        ui_service.search("tone at 440 Hz", k=0)
    with pytest.raises(UserError, match="No track with id 999"):
        ui_service.similar(999)
    long = tone(tmp_path / "long.wav", 440, 30.0)  # 30 s > 20 s limit, 960 kB > 200 kB
    with pytest.raises(UserError, match=r"'long.wav' is 0.9 MiB; the limit is 0 MiB"):
        ui_service.tag_audio(long)
    small = Limits(10_000_000, 20.0)
    svc = LibraryService(ui_service.path, model=ToneModel(), limits=small)
    with pytest.raises(UserError, match=r"'long.wav' lasts 30 s; the limit is 20 s"):
        svc.similar(str(long))
    bad = tmp_path / "notes.wav"
    bad.write_text("not audio")
    with pytest.raises(UserError, match="'notes.wav' is not audio"):
        svc.tag_audio(bad)
    with pytest.raises(UserError, match=r"needs a \{\}"):
        svc.tag_audio(tone(tmp_path / "s.wav", 440, 2.0), template="A track")


def test_add_folder_reports_each_bad_file_and_goes_on(ui_library, tmp_path):
    lib_copy = tmp_path / "lib"
    Library.create(lib_copy, ToneModel()).close()
    svc = LibraryService(lib_copy, model=ToneModel())
    folder = tmp_path / "new"
    folder.mkdir()
    tone(folder / "a.flac", 440)
    tone(folder / "b.wav", 880)
    (folder / "broken.flac").write_bytes(b"fLaC" + bytes(100))
    (folder / "empty.wav").write_bytes(b"")
    calls = []
    rep = svc.add_folder(str(folder), lambda f, m: calls.append((f, m)), batch=2)
    assert sorted(Path(p).name for p, _ in rep.added) == ["a.flac", "b.wav"]
    failed = {Path(p).name: r for p, r in rep.failed}
    assert set(failed) == {"broken.flac", "empty.wav"} and all(failed.values())
    assert calls[-1][0] == 1.0 and len(calls) == 2
    assert svc.stats()["tracks"] == 2
    again = svc.add_folder(str(folder))  # duplicates by content, nothing lost
    assert len(again.duplicates) == 2 and not again.added and svc.stats()["tracks"] == 2
    with pytest.raises(UserError, match="is not a folder"):
        svc.add_folder(str(folder / "a.flac"))
    ro = LibraryService(lib_copy, model=ToneModel(), allow_add=False)
    with pytest.raises(UserError, match="read-only"):
        ro.add_folder(str(folder))


@pytest.fixture(scope="module")
def server(ui_service):
    svc = LibraryService(ui_service.path, model=ToneModel(), limits=Limits(2**20, 20.0))
    srv = Server(make_app(svc, ServeConfig()), port=0).start()
    yield srv
    srv.stop()


def test_audio_route_serves_library_tracks_by_id_only(server, ui_service, ui_library):
    tid = ui_service.search("tone at 880 Hz", k=1)[0]["track_id"]
    path = Path(ui_service.track(tid)["path"])
    r = httpx.get(f"{server.url}lyrebird/audio/{tid}")
    assert r.status_code == 200 and r.content == path.read_bytes()
    assert r.headers["content-type"] == "audio/flac"
    part = httpx.get(f"{server.url}lyrebird/audio/{tid}", headers={"Range": "bytes=10-19"})
    assert part.status_code == 206 and part.content == path.read_bytes()[10:20]
    assert httpx.get(f"{server.url}lyrebird/audio/9999").status_code == 404


@pytest.mark.parametrize("route", [
    "lyrebird/audio/../../../../etc/passwd",
    "lyrebird/audio/%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    "lyrebird/audio/1%2f..%2f..%2f..%2fetc%2fpasswd",
    "gradio_api/file=/etc/passwd",
    "gradio_api/file=%2Fetc%2Fpasswd",
    "gradio_api/file=../../../../../../etc/passwd",
    "file=/etc/passwd",
    "gradio_api/file={lib}/library.sqlite",
    "gradio_api/file={music}/tone440.flac",
    "gradio_api/file={music}/../../../../../etc/passwd",
    "static/../../../../etc/passwd",
    "assets/..%2f..%2f..%2f..%2fetc%2fpasswd",
])
def test_no_path_outside_the_library_can_be_fetched(server, ui_library, route):
    music = ui_library.parent / "music"
    url = server.url + route.format(lib=ui_library, music=music)
    r = httpx.get(url, follow_redirects=True)
    assert r.status_code in (400, 403, 404, 405, 422), (url, r.status_code)
    assert b"root:" not in r.content and b"SQLite format" not in r.content
    assert not r.content.startswith(b"fLaC")


def test_upload_size_limit_is_enforced_by_the_server(server, tmp_path):
    big = tmp_path / "big.wav"
    big.write_bytes(b"RIFF" + bytes(2 * 2**20))
    with big.open("rb") as fh:
        r = httpx.post(f"{server.url}gradio_api/upload", files={"files": ("big.wav", fh)})
    assert r.status_code == 413 and "exceeded maximum allowed size of 1048576 bytes" in r.text


def test_auth_protects_every_route(ui_service):
    srv = Server(make_app(ui_service, ServeConfig(auth=("ann", "s3cret"))), port=0).start()
    try:
        for route in ("", "lyrebird/audio/1", "gradio_api/info", "config"):
            assert httpx.get(srv.url + route).status_code == 401, route
            assert httpx.get(srv.url + route, auth=("ann", "wrong")).status_code == 401
        assert httpx.get(srv.url, auth=("ann", "s3cret")).status_code == 200
        assert httpx.get(srv.url + "lyrebird/audio/1", auth=("ann", "s3cret")).status_code == 200
    finally:
        srv.stop()
    assert parse_auth("ann:s3:cret") == ("ann", "s3:cret")
    with pytest.raises(ValueError, match="expected 'user:password'"):
        parse_auth("ann")


def test_a_burst_of_users_is_queued_not_dropped(server):
    from lyrebird.bench.serve import _one_search

    errors: list[str] = []

    def user(i: int) -> None:
        with httpx.Client() as c:
            try:
                _one_search(c, server.url, f"tone at {220 * (1 + i % 4)} Hz", 3, 60.0)
            except Exception as e:  # collected and asserted below
                errors.append(repr(e))

    threads = [threading.Thread(target=user, args=(i,)) for i in range(24)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
