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
from ui_library import FREQS, TaggedToneModel, tag_file, tone

from lyrebird.index import Library
from lyrebird.mulan.vocabulary import DEFAULT_TEMPLATE, mtt_top50
from lyrebird.ui import LibraryService, Limits, ServeConfig, Server, UserError, make_app, parse_auth
from lyrebird.ui.tag_chips import TagCalibration


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
    with pytest.raises(UserError, match="where the tag goes"):
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
    # one add: a call each time files are settled (the batch of two committed, then each
    # failure), fractions growing to 1.0
    assert calls == [(0.5, "2/4 files"), (0.75, "3/4 files"), (1.0, "4/4 files")]
    from lyrebird.index.sync import roots

    with Library.open(lib_copy, readonly=True) as lib:  # remembered for sync, as by the CLI
        assert roots(lib) == [str(folder.resolve())]
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


def test_tagging_with_no_tags_uses_the_models_vocabulary_through_the_lock(ui_library, tmp_path):
    """Defect 1: the app wraps its model in LockedModel, which hid MuLan's MTT vocabulary."""
    from lyrebird.index.model import MuLanModel, default_tag_vocabulary
    from lyrebird.ui.service import LockedModel

    assert MuLanModel(spec="default").default_tags == list(mtt_top50())  # reads the config only
    locked = LockedModel(TaggedToneModel())
    assert default_tag_vocabulary(locked) == list(TaggedToneModel.default_tags)
    svc = LibraryService(ui_library, model=TaggedToneModel(), limits=Limits(200_000, 20.0))
    scores = svc.tag_audio(tone(tmp_path / "t.wav", 880, 5.0))  # no tags: the default ones
    assert next(iter(scores)) == "tone at 880 Hz" and len(scores) == len(FREQS)


@pytest.fixture(scope="module")
def works_library(tmp_path_factory) -> Path:
    """Two files of one work ("Sonata", two takes), another work and an untitled file."""
    root = tmp_path_factory.mktemp("works")
    music = root / "music"
    music.mkdir()
    tag_file(tone(music / "a1.flac", 440), title="Sonata", artist="Anna")
    tag_file(tone(music / "a2.flac", 450), title="Sonata", artist="Anna")
    tag_file(tone(music / "b.flac", 880), title="Étude — “Laß’ mein Jogli”", artist="Bea")
    tone(music / "untitled.flac", 1760)
    with Library.create(root / "lib", TaggedToneModel()) as lib:
        assert len(lib.add([music]).added) == 4
    return root / "lib"


def test_results_are_grouped_by_work_and_carry_calibrated_chips(works_library):
    """Defects 5 and 4: one result per work (or every part, on request); chips only above
    the stored calibration's thresholds."""
    svc = LibraryService(works_library, model=TaggedToneModel())
    hits = svc.search("tone at 440 Hz", k=3)
    assert [h["title"] for h in hits] == ["Sonata", "Étude — “Laß’ mein Jogli”", None]
    assert hits[0]["more_of_work"] == 1 and hits[1]["more_of_work"] == 0
    assert len(svc.search("tone at 440 Hz", k=4, group=False)) == 4
    a1 = hits[0]["track_id"]
    assert "Sonata" not in [h["title"] for h in svc.similar(a1, k=3)]  # its own work left out
    assert svc.similar(a1, k=3, group=False)[0]["title"] == "Sonata"
    assert svc.title(a1) == "Sonata"
    fp = TaggedToneModel().fingerprint()
    TagCalibration(fp, DEFAULT_TEMPLATE, {t: 0.5 for t in TaggedToneModel.default_tags}).save(
        works_library)
    svc = LibraryService(works_library, model=TaggedToneModel())
    chips = {h["title"]: h["chips"] for h in svc.search("tone at 880 Hz", k=3)}
    assert chips["Sonata"] == ["tone at 440 Hz"]
    assert chips["Étude — “Laß’ mein Jogli”"] == ["tone at 880 Hz"]


def test_playlist_from_a_description(works_library):
    svc = LibraryService(works_library, model=TaggedToneModel())
    pl = svc.playlist("tone at 440 Hz into tone at 1760 Hz", n=3)
    titles = [it.title for it in pl]
    assert len(pl) == 3 and titles.count("Sonata") == 1  # one track per work
    assert "#EXTM3U" in pl.m3u8()
    with pytest.raises(UserError, match="Describe the playlist"):
        svc.playlist("  ")
    with pytest.raises(UserError, match="2 to 100 tracks"):
        svc.playlist("tone at 440 Hz", n=1)


def test_index_info_json_rounds_hours_and_says_whether_text_search_works(ui_library):
    """Defect 8: `index info --json` printed "hours": 0.6722222222222223 and "text_search": null."""
    import json

    from click.testing import CliRunner

    from lyrebird.cli import main

    res = CliRunner().invoke(main, ["index", "info", str(ui_library), "--json"])
    assert res.exit_code == 0, res.output
    info = json.loads(res.stdout)
    assert info["hours"] == round(len(FREQS) * 12 / 3600, 3)
    assert info["text_search"] is True


def test_warm_up_answers_a_search_before_the_first_user(ui_library, caplog):
    """serve() warms the service: the first user's search finds the model, tag space and
    snapshot loaded; a warm-up that fails is logged, and serving goes on."""
    calls: list[list[str]] = []

    class Counting(ToneModel):
        def text_fingerprint(self):  # its own text-vector cache: another test's cached
            return f"counting-{id(calls)}"  # prompts would hide the warm-up's work

        def embed_text(self, texts):
            calls.append(list(texts))
            return super().embed_text(texts)

    svc = LibraryService(ui_library, model=Counting())
    svc.warm_up()
    assert calls and svc._snap is not None
    n = len(calls)
    assert svc.search("tone at 440 Hz", 2)  # the first user's query: only its own text embedded
    assert [c for c in calls[n:] if "tone at 440 Hz" not in c] == []

    class Broken(ToneModel):
        def text_fingerprint(self):  # its own text-vector cache: nothing cached to fall back on
            return "broken-" + super().fingerprint()

        def embed_text(self, texts):
            raise ValueError("no text tower today")

    with caplog.at_level("WARNING", logger="lyrebird.ui"):
        LibraryService(ui_library, model=Broken()).warm_up()
    assert "warm-up" in caplog.text and "no text tower today" in caplog.text
