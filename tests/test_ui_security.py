"""The server reads and serves only library tracks and the request's own uploads.

Every Gradio endpoint (named calls, the queue by function index, ``/run``) and every route is
tried with files outside the library — absolute and relative paths, the library's own
database, URLs — and the test fails if any byte of those files comes back. Then hostile
numbers, templates and sizes, which must get a 4xx with a message, and failed logins, which
are slowed per client.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import httpx
import pytest
from tone_model import ToneModel
from ui_library import SR, tone

from lyrebird.ui import LibraryService, Limits, ServeConfig, Server, make_app
from lyrebird.ui.guard import LoginThrottle

SECRET = b"LYREBIRD-SECRET-7f3a9c"


@pytest.fixture(scope="module")
def secret_files(tmp_path_factory, ui_library) -> list[Path]:
    d = tmp_path_factory.mktemp("outside")
    secret = d / "secret.txt"
    secret.write_bytes(SECRET + b"\n")
    fake = d / "fake.wav"  # a file that looks like audio by name
    fake.write_bytes(SECRET * 10)
    return [secret, fake, ui_library / "library.sqlite"]


@pytest.fixture(scope="module")
def server(ui_library):
    svc = LibraryService(ui_library, model=ToneModel(), limits=Limits(300_000, 20.0))
    srv = Server(make_app(svc), port=0).start()
    yield srv
    srv.stop()


def _leaks(text: bytes | str, sqlite: Path) -> bool:
    raw = text.encode() if isinstance(text, str) else text
    return SECRET in raw or b"SQLite format 3" in raw


def _file_data(path: str) -> dict:
    return {"path": path, "meta": {"_type": "gradio.FileData"}, "orig_name": Path(path).name}


def _hostile_paths(files: list[Path]) -> list[str]:
    out = []
    for f in files:
        out += [str(f), os.path.relpath(f, os.getcwd()), f"file://{f}",
                f"/gradio_api/file={f}"]
    return out


def _fetch_mentioned(client: httpx.Client, text: str) -> list[bytes]:
    """Every file path or file URL an answer mentions, fetched through Gradio's file route."""
    got = []
    for m in set(re.findall(r"(/[^\s'\"<>&;]+)", text)):
        path = m.split("file=", 1)[1] if "file=" in m else m
        got.append(client.get(f"gradio_api/file={path}").content)
    return got


def test_no_gradio_endpoint_reads_a_file_outside_the_library(server, secret_files):
    client = httpx.Client(base_url=server.url, timeout=30)
    config = client.get("config").json()
    deps = config["dependencies"]
    named = [d["api_name"] for d in deps if d.get("api_name")]
    assert {"search", "similar", "tag", "playlist"} <= set(named)
    seen = []
    for hostile in _hostile_paths(secret_files):
        fd = _file_data(hostile)
        for i, dep in enumerate(deps):
            n = len(dep.get("inputs", []))
            if n == 0:
                continue
            for route, body in [("gradio_api/queue/join",
                                 {"data": [fd] * n, "fn_index": dep.get("id", i),
                                  "session_hash": "attacker"})]:
                r = client.post(route, json=body)
                seen.append(r.content)
                assert r.status_code == 403, (route, dep.get("api_name"), r.text)
        for name in named:
            for route in (f"gradio_api/call/{name}", f"gradio_api/run/{name}",
                          f"gradio_api/api/{name}"):
                r = client.post(route, json={"data": [fd, "piano", "A {} track"]})
                seen.append(r.content)
                assert r.status_code == 403, (route, r.text)
        r = client.get(f"gradio_api/file={hostile}")
        seen.append(r.content)
        assert r.status_code in (403, 404), (hostile, r.status_code)
    for f in secret_files:  # a path nested deeper in the JSON is found too
        r = client.post("gradio_api/call/tag",
                        json={"data": [{"x": [{"path": str(f)}]}, "a", "A {} track"]})
        assert r.status_code == 403
    for content in seen:
        assert not _leaks(content, secret_files[2])
        for fetched in _fetch_mentioned(client, content.decode("utf-8", "replace")):
            assert not _leaks(fetched, secret_files[2])


def test_an_upload_still_works_and_only_it_is_served(server, tmp_path):
    client = httpx.Client(base_url=server.url, timeout=60)
    clip = tone(tmp_path / "mine.wav", 880, 3.0)
    with open(clip, "rb") as fh:
        up = client.post("gradio_api/upload", files={"files": ("mine.wav", fh, "audio/wav")})
    assert up.status_code == 200, up.text
    path = up.json()[0]
    data = [{**_file_data(path), "url": f"{server.url}gradio_api/file={path}"},
            "tone at 440 Hz, tone at 880 Hz", "A {} track"]
    r = client.post("gradio_api/call/tag", json={"data": data})
    assert r.status_code == 200, r.text
    events = client.get(f"gradio_api/call/tag/{r.json()['event_id']}").text
    assert "event: complete" in events and "tone at 880 Hz" in events
    assert events.index("tone at 880 Hz") < events.index("tone at 440 Hz")
    served = client.get(f"gradio_api/file={path}")
    assert served.status_code == 200 and served.content == clip.read_bytes()
    # a file in Gradio's temp folder that this app did not upload is not served
    other = Path(path).parent.parent / "planted" / "secret.txt"
    other.parent.mkdir(exist_ok=True)
    other.write_bytes(SECRET)
    assert client.get(f"gradio_api/file={other}").status_code == 403


def test_api_and_app_routes_never_serve_outside_files(server, secret_files):
    client = httpx.Client(base_url=server.url, timeout=30)
    urls = []
    for hostile in _hostile_paths(secret_files):
        q = httpx.QueryParams({"q": hostile, "name": hostile, "tags": hostile,
                               "template": hostile + " {}", "seeds": hostile})
        urls += [f"lyrebird/audio/{hostile}", f"api/tracks/{hostile}", f"api/similar/{hostile}",
                 f"api/search?{q}", f"api/playlist?{q}", f"lyrebird/map/tag?{q}",
                 f"lyrebird/map/search?{q}", f"lyrebird/map/similar/{hostile}",
                 f"lyrebird/audio/..%2F..%2F{hostile}"]
    for u in urls:
        r = client.get(u)
        assert r.status_code < 500, (u, r.status_code)
        assert not _leaks(r.content, secret_files[2]), u
    for hostile in _hostile_paths(secret_files):  # a path as the upload itself is just bytes
        r = client.post("api/tag", content=hostile.encode(), headers={"content-type": "audio/wav"})
        assert r.status_code == 400 and not _leaks(r.content, secret_files[2])


HUGE = "9223372036854775808"


@pytest.mark.parametrize("url", [
    f"api/similar/{HUGE}", "api/tracks/18446744073709551616", "api/tracks/-1", "api/tracks/0",
    f"api/playlist?seeds={HUGE}", "api/search?q=x&k=1e309", "api/search?q=x&k=nan",
    "api/playlist?q=x&lam=nan", "api/playlist?q=x&lam=inf", f"lyrebird/audio/{HUGE}",
    f"lyrebird/map/similar/{HUGE}", f"lyrebird/map/search?q=x&k={HUGE}",
    "lyrebird/map/search?q=x&k=-5", f"api/search?q={'x' * 5000}",
])
def test_hostile_numbers_get_a_4xx(server, url):
    with httpx.Client(base_url=server.url, timeout=30) as client:
        r = client.get(url)
        assert 400 <= r.status_code < 500, (url, r.status_code, r.text[:200])
        assert "Traceback" not in r.text
        assert client.get("api/info").status_code == 200  # the connection still works


@pytest.mark.parametrize(("params", "says"), [
    ({"tags": "a", "template": "{} {}"}, "exactly one"),
    ({"tags": "a", "template": "{0} and {}"}, "exactly one"),
    ({"tags": "a", "template": "{x}"}, "no '{}'"),
    ({"tags": ",".join(f"t{i}" for i in range(3000))}, "at most"),
    ({"tags": "x" * 500}, "characters"),
])
def test_hostile_tag_requests_get_a_400(server, params, says):
    import io

    import numpy as np
    import soundfile as sf

    buf = io.BytesIO()
    sf.write(buf, np.zeros(SR, dtype="float32"), SR, format="WAV")
    r = httpx.post(server.url + "api/tag", data=params, timeout=30,  # form fields: no URL cap
                   files={"file": ("q.wav", buf.getvalue(), "audio/wav")})
    assert r.status_code == 400, r.text
    assert says in r.json()["error"]


def test_huge_query_string_gets_414_not_a_reset(server):
    import socket

    line = f"GET /api/search?q={'x' * 1_000_000} HTTP/1.1\r\nHost: x\r\n\r\n".encode()
    with socket.create_connection((server.host, server.port), timeout=30) as s:
        s.sendall(line)  # httpx refuses to send a URL this long, so speak HTTP by hand
        answer = b""
        while b"\r\n\r\n" not in answer:
            answer += s.recv(65536)
    assert answer.startswith(b"HTTP/1.1 414"), answer[:100]


def test_service_messages_name_the_users_file_not_a_server_path(ui_service, tmp_path):
    from lyrebird.ui.service import UserError

    fake = tmp_path / "gradio" / "0123abcd" / "fake.mp3"
    fake.parent.mkdir(parents=True)
    fake.write_text("this is a text file, not audio\n" * 10)
    with pytest.raises(UserError) as e:
        ui_service.tag_audio(fake)
    msg = str(e.value)
    assert "fake.mp3" in msg and str(fake.parent) not in msg and str(tmp_path) not in msg
    for bad_k in (0, 101, float("nan"), float("inf"), 10**30):
        with pytest.raises(UserError):
            ui_service.search("tone", bad_k)
    for bad_id in (0, -1, 2**63, 10**30):
        with pytest.raises(UserError, match="No track"):
            ui_service.similar(bad_id)


def test_failed_logins_are_slowed_per_client(ui_library):
    svc = LibraryService(ui_library, model=ToneModel(), allow_add=False)
    srv = Server(make_app(svc, ServeConfig(auth=("ann", "s3cret"))), port=0).start()
    try:
        url = srv.url + "api/info"
        codes = [httpx.get(url, auth=("ann", f"guess{i}")).status_code for i in range(8)]
        assert codes[:5] == [401] * 5 and 429 in codes[5:]
        r = httpx.get(url, auth=("ann", "s3cret"))  # even the right password waits
        assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
        assert httpx.get(url).status_code in (401, 429)
    finally:
        srv.stop()


def test_login_throttle_doubles_and_forgets():
    t = LoginThrottle(free_failures=2, base_s=1.0, max_s=8.0)
    for _ in range(2):
        t.failed("a", now=0.0)
    assert t.wait_s("a", now=0.0) == 0.0
    waits = []
    for _ in range(5):
        t.failed("a", now=0.0)
        waits.append(t.wait_s("a", now=0.0))
    assert waits == [1.0, 2.0, 4.0, 8.0, 8.0]
    assert t.wait_s("b", now=0.0) == 0.0  # per client
    assert t.wait_s("a", now=9.0) == 0.0  # the wait runs out
    t.succeeded("a")
    t.failed("a", now=10.0)
    assert t.wait_s("a", now=10.0) == 0.0


def test_security_doc_lists_what_the_server_exposes():
    doc = (Path(__file__).parents[1] / "docs" / "security.md").read_text()
    for route in ("/api/search", "/lyrebird/audio", "/gradio_api/upload", "/lyrebird/map",
                  "--auth", "--host"):
        assert route in doc


def test_serve_checks_the_library_before_announcing(tmp_path, ui_library):
    import shutil

    from click.testing import CliRunner

    from lyrebird.cli import main

    lib = tmp_path / "lib"
    shutil.copytree(ui_library, lib)
    for extra in ("library.sqlite-wal", "library.sqlite-shm"):
        (lib / extra).unlink(missing_ok=True)
    (lib / "library.sqlite").write_bytes(b"\x00garbage" * 512)
    r = CliRunner().invoke(main, ["serve", str(lib), "--port", "0"])
    assert r.exit_code != 0
    assert "serving" not in r.output and "library.sqlite" in r.output
    assert "Traceback" not in r.output


def test_serving_beyond_this_machine_without_auth_warns(ui_library):
    from lyrebird.ui.server import serve

    said: list[str] = []

    class Stop(Exception):
        pass

    def announce(line: str) -> None:
        said.append(line)
        if "warning" in line:
            raise Stop

    svc = LibraryService(ui_library, model=ToneModel(), allow_add=False)
    with pytest.raises(Stop):
        serve(svc, ServeConfig(host="0.0.0.0", port=0), announce=announce)
    assert any("without --auth" in s for s in said)
