"""The music map at 10,000 tracks in a real browser: interactive within 3 s of loading.

"Interactive" means drawn and answering the pointer: the page has fetched every track's
position, drawn them and set ``body[data-ready]``, and hovering a dot shows its title. The
server starts cold (the first request builds the library snapshot and its projection), so the
first load includes that; the page is loaded three times and every load must take under 3 s.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from ui_library import TaggedToneModel, synthetic_library

from lyrebird.ui import LibraryService, ServeConfig, Server, make_app

CHROMIUM = "/usr/bin/chromium"
N = 10_000

if not Path(CHROMIUM).exists():
    pytest.skip(f"{CHROMIUM} missing (`.ci/setup` installs Debian's chromium)",
                allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api")


def test_map_of_10000_tracks_is_interactive_within_3_s(tmp_path):
    lib = synthetic_library(tmp_path / "lib", N)
    srv = Server(make_app(LibraryService(lib, model=TaggedToneModel()), ServeConfig()),
                 port=0).start()
    outside: list[str] = []
    loads = []
    try:
        with sync_api.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=[
                "--no-sandbox", "--disable-gpu", "--disable-background-networking"])
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            page.on("request", lambda r: outside.append(r.url)
                    if not r.url.startswith(srv.url) else None)
            for _ in range(3):
                t0 = time.monotonic()
                page.goto(srv.url + "lyrebird/map")
                page.wait_for_selector("body[data-ready='1']", timeout=30_000)
                x, y = page.evaluate("window.lbMap.screenOf(1)")
                page.mouse.move(x, y)
                page.wait_for_selector("#tip", state="visible", timeout=30_000)
                loads.append(time.monotonic() - t0)
                assert page.inner_text("#tip").startswith("Synthetic piece 0")
                page.mouse.move(1, 1)
            assert page.inner_text("#msg") == f"{N} tracks"
            t0 = time.monotonic()
            page.fill("#q", "tone at 440 Hz")
            page.click("#go")
            page.wait_for_function("document.getElementById('msg').innerText.includes('best')")
            highlight_s = time.monotonic() - t0
            browser.close()
    finally:
        srv.stop()
    print(f"map of {N} tracks: loads {', '.join(f'{t:.2f}' for t in loads)} s; "
          f"highlight {highlight_s:.2f} s")
    assert max(loads) < 3.0, loads
    assert outside == []
