"""The app's tagging tab on real recordings, in a real browser (issue #25).

A new user uploads each of the demo's 8 real metal tracks (Frets on Fire songs, never seen in
training) to the "Zero-shot tagging" tab of an app over a library with the shipped default
model and clicks "Tag" with the default inputs (no tags given): "metal" or "rock" must be among
the three best distilled tags of at least 7 of them (the target is 8; see
``test_demo_metal_tags``). Skipped where the Debian packages or Chromium are missing.
"""

from __future__ import annotations

from test_demo_metal_tags import assert_metal_or_rock
from test_ui_browser import _open, browser, no_error_toast  # noqa: F401 (fixture)

from lyrebird.index import Library
from lyrebird.ui import LibraryService, ServeConfig, Server, make_app


def test_tagging_tab_tags_the_demo_metal_tracks_metal_or_rock(browser, demo_metal_files,  # noqa: F811
                                                              tmp_path):
    Library.create(tmp_path / "lib", "default").close()
    srv = Server(make_app(LibraryService(tmp_path / "lib"), ServeConfig()), port=0).start()
    tops = {}
    try:
        for f in demo_metal_files:
            page = _open(browser, srv)  # a fresh page per upload, as a new user
            page.get_by_role("tab", name="Zero-shot tagging").click()
            page.set_input_files("#lb-tag-upload input[type=file]", str(f))
            page.wait_for_selector("#lb-tag-upload audio, #lb-tag-upload .waveform-container",
                                   state="attached", timeout=60_000)
            page.click("#lb-tag")  # default tags (empty box) and default template
            page.wait_for_selector(".lb-bar-row", timeout=60_000)
            tops[f.parent.name] = page.evaluate(
                "[...document.querySelectorAll('.lb-bar-row')].slice(0, 3)"
                ".map(r => r.getAttribute('data-tag'))")
            no_error_toast(page)
            assert page.outside == []
            page.close()
    finally:
        srv.stop()
    assert_metal_or_rock(tops)
