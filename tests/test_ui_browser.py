"""The app in a real browser: Playwright drives Debian's headless Chromium.

A user types a query and sees ranked results with working players that start at the matched
segment, opens "More like this", uploads a clip to find similar tracks, uploads a clip to tag
and sees the bars, and reads the library stats. A screenshot of each tab is saved under
``artifacts/ui/`` (or ``$LYREBIRD_ARTIFACTS/ui``). No request leaves the machine.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from ui_library import FREQS, tone

from lyrebird.ui import ServeConfig, Server, make_app

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(os.environ.get("LYREBIRD_ARTIFACTS", Path(__file__).parents[1] / "artifacts")) / "ui"

if not Path(CHROMIUM).exists() and not os.environ.get("CI"):
    pytest.skip(f"{CHROMIUM} missing (`.ci/setup` installs Debian's chromium)",
                allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api")


@pytest.fixture(scope="module")
def page(ui_service):
    srv = Server(make_app(ui_service, ServeConfig()), port=0).start()
    outside: list[str] = []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run"])
        pg = browser.new_page(viewport={"width": 1280, "height": 900})
        pg.on("request", lambda r: outside.append(r.url)
              if not r.url.startswith((srv.url, "blob:" + srv.url[:-1], "data:")) else None)
        pg.set_default_timeout(30_000)
        pg.goto(srv.url)
        pg.outside = outside
        yield pg
        browser.close()
    srv.stop()


def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def test_text_search_shows_ranked_results_with_working_players(page):
    page.fill("#lb-query textarea", "tone at 880 Hz")
    page.click("#lb-search")
    page.wait_for_selector("#lb-search-results .lb-card")
    cards = page.locator("#lb-search-results .lb-card")
    assert cards.count() == len(FREQS)
    assert "tone880.flac" in cards.first.inner_text()
    scores = [float(c.inner_text().split("score ")[1].split()[0]) for c in cards.all()]
    assert scores == sorted(scores, reverse=True)
    page.wait_for_function("[...document.querySelectorAll('.lb-card audio')]"
                           ".every(a => a.readyState >= 1)")
    players = page.evaluate("""() => [...document.querySelectorAll('.lb-card')].map(c => {
        const a = c.querySelector('audio');
        return {start: parseFloat(c.dataset.start), t: a.currentTime, dur: a.duration,
                err: a.error ? a.error.code : null};
    })""")
    for p in players:
        assert p["err"] is None and p["dur"] > 11.5  # the 12 s file decoded by the browser
        assert abs(p["t"] - p["start"]) < 0.05       # starts at the matched segment
    shot(page, "search")


def test_more_like_this_opens_similar_tracks(page):
    first = page.locator("#lb-search-results .lb-card").first.get_attribute("data-track-id")
    page.locator("#lb-search-results .lb-more").first.click()
    page.wait_for_function("document.querySelector('#lb-search-status').innerText"
                           ".includes('Tracks like')")
    page.wait_for_function("document.querySelectorAll('#lb-search-results .lb-card').length"
                           f" == {len(FREQS) - 1}")
    ids = [c.get_attribute("data-track-id")
           for c in page.locator("#lb-search-results .lb-card").all()]
    assert first not in ids


def test_similar_tab_with_an_uploaded_clip(page, tmp_path):
    page.get_by_role("tab", name="Similar tracks").click()
    page.set_input_files("#lb-similar-upload input[type=file]",
                         str(tone(tmp_path / "query.wav", 1760, 4.0)))
    page.wait_for_selector("#lb-similar-upload audio, #lb-similar-upload .waveform-container",
                           state="attached")
    page.click("#lb-similar")
    page.wait_for_function("document.querySelector('#lb-similar-status').innerText"
                           ".includes('uploaded clip')")
    card = page.locator("#lb-similar-results .lb-card").first
    card.wait_for()
    assert "tone1760.flac" in card.inner_text()
    shot(page, "similar")


def test_tagging_tab_shows_bars(page, tmp_path):
    page.get_by_role("tab", name="Zero-shot tagging").click()
    page.set_input_files("#lb-tag-upload input[type=file]",
                         str(tone(tmp_path / "tagme.wav", 440, 4.0)))
    page.wait_for_selector("#lb-tag-upload audio, #lb-tag-upload .waveform-container",
                           state="attached")
    page.fill("#lb-tags textarea", "tone at 220 Hz, tone at 440 Hz, tone at 1760 Hz")
    page.fill("#lb-template textarea", "a {}")
    page.click("#lb-tag")
    page.wait_for_selector(".lb-bar-row")
    rows = page.locator(".lb-bar-row")
    assert rows.count() == 3
    assert rows.first.get_attribute("data-tag") == "tone at 440 Hz"
    widths = page.evaluate("[...document.querySelectorAll('.lb-bar')].map(b => b.offsetWidth)")
    assert widths[0] > 3 * widths[1] > 0
    shot(page, "tagging")


def test_library_tab_stats_and_no_outside_requests(page):
    page.get_by_role("tab", name="Library").click()
    stats = page.locator("#lb-stats")
    stats.wait_for()
    text = stats.inner_text()
    assert f"Tracks\t{len(FREQS)}" in text and "flat" in text and "tone" in text
    assert page.outside == []


def test_library_tab_adds_a_folder_with_a_per_file_report(page, tmp_path):
    folder = tmp_path / "more"
    folder.mkdir()
    tone(folder / "tone3520.flac", 3520)
    (folder / "broken.flac").write_bytes(b"fLaC" + bytes(64))
    page.fill("#lb-folder textarea", str(folder))
    page.click("#lb-add")
    page.wait_for_function("document.querySelector('#lb-add-report').innerText.includes('Added')")
    report = page.locator("#lb-add-report").inner_text()
    assert "Added 1" in report and "failed 1" in report
    assert "broken.flac" in page.locator("#lb-add-report li.lb-error").inner_text()
    page.wait_for_function("document.querySelector('#lb-stats').innerText"
                           f".includes('Tracks\\t{len(FREQS) + 1}')")
    shot(page, "library")
    assert page.outside == []

