"""The app in a real browser: Playwright drives Debian's headless Chromium.

Every tab is used as a new user would: first with its default inputs (an example chip, the
pre-filled playlist, no tags given), then with a bad input, which must give a message where
the results would be, never an error toast. A screenshot of each tab is saved under
``artifacts/ui/`` (or ``$LYREBIRD_ARTIFACTS/ui``). No request leaves the machine.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from ui_library import FREQS, TaggedToneModel, tone

from lyrebird.ui import LibraryService, Limits, ServeConfig, Server, make_app
from lyrebird.ui.app import EXAMPLE_QUERIES

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(os.environ.get("LYREBIRD_ARTIFACTS", Path(__file__).parents[1] / "artifacts")) / "ui"
BROWSER_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--no-first-run"]

if not Path(CHROMIUM).exists() and not os.environ.get("CI"):
    pytest.skip(f"{CHROMIUM} missing (`.ci/setup` installs Debian's chromium)",
                allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api")


@pytest.fixture(scope="module")
def browser():
    """One headless Chromium per module; each test gets its own page (``page``)."""
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS)
        yield b
        b.close()


def _serve(library: Path):
    svc = LibraryService(library, model=TaggedToneModel(), limits=Limits(200_000, 20.0))
    return Server(make_app(svc, ServeConfig()), port=0).start()


@pytest.fixture(scope="module")
def server(ui_library):
    """The app over the shared four-tone library, which no test here changes."""
    srv = _serve(ui_library)
    yield srv
    srv.stop()


def _open(browser, srv):
    outside: list[str] = []
    pg = browser.new_page(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    pg.on("request", lambda r: outside.append(r.url)
          if not r.url.startswith((srv.url, "blob:" + srv.url[:-1], "data:")) else None)
    pg.set_default_timeout(30_000)
    pg.goto(srv.url)
    pg.outside = outside
    return pg


@pytest.fixture
def page(browser, server):
    """A fresh page on the shared app: no test sees another's inputs or results."""
    pg = _open(browser, server)
    yield pg
    pg.close()


@pytest.fixture
def own_page(browser, ui_library, tmp_path):
    """A fresh page on an app over a private copy of the library, for a test that adds to it."""
    lib = tmp_path / "lib-copy"
    shutil.copytree(ui_library, lib)
    srv = _serve(lib)
    pg = _open(browser, srv)
    yield pg
    pg.close()
    srv.stop()


def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def status_has(page, elem: str, text: str) -> None:
    page.wait_for_function(f"document.querySelector('{elem}').innerText.includes({text!r})")


def first_card_has(page, results: str, text: str) -> None:
    page.wait_for_function(f"document.querySelector('{results} .lb-card .lb-title')"
                           f"?.innerText.includes({text!r})")


def no_error_toast(page) -> None:
    assert page.locator(".toast-wrap .toast-body.error, .toast-body.error").count() == 0


def test_search_empty_query_then_an_example_chip_runs_the_search(page):
    page.click("#lb-search")  # default input: an empty box
    status_has(page, "#lb-search-status", "Type a query")
    assert page.locator("#lb-search-status .lb-error").count() == 1
    page.locator("#lb-examples").get_by_text(EXAMPLE_QUERIES[1], exact=True).click()
    status_has(page, "#lb-search-status", f"results for “{EXAMPLE_QUERIES[1]}”")
    assert page.input_value("#lb-query textarea") == EXAMPLE_QUERIES[1]
    page.wait_for_selector("#lb-search-results .lb-card")
    no_error_toast(page)


def test_text_search_shows_ranked_results_with_working_players(page):
    page.fill("#lb-query textarea", "tone at 880 Hz")
    page.click("#lb-search")
    status_has(page, "#lb-search-status", "results for “tone at 880 Hz”")
    first_card_has(page, "#lb-search-results", "tone880.flac")  # replaces the example's list
    cards = page.locator("#lb-search-results .lb-card")
    assert cards.count() == len(FREQS)
    scores = [float(c.inner_text().split("score ")[1].split()[0]) for c in cards.all()]
    assert scores == sorted(scores, reverse=True)
    for c in cards.all():  # chips: distinct, at most five
        chips = c.locator(".lb-tag").all_inner_texts()
        assert len(chips) == len(set(chips)) <= 5
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


def test_more_like_this_names_the_track(page):
    page.fill("#lb-query textarea", "tone at 880 Hz")  # its own results: a fresh page has none
    page.click("#lb-search")
    first_card_has(page, "#lb-search-results", "tone880.flac")
    first = page.locator("#lb-search-results .lb-card").first.get_attribute("data-track-id")
    page.locator("#lb-search-results .lb-more").first.click()
    status_has(page, "#lb-search-status", "Tracks like “tone880.flac”")
    page.wait_for_function("document.querySelectorAll('#lb-search-results .lb-card').length"
                           f" == {len(FREQS) - 1}")
    ids = [c.get_attribute("data-track-id")
           for c in page.locator("#lb-search-results .lb-card").all()]
    assert first not in ids


def test_similar_tab_defaults_a_picked_track_and_an_upload(page, tmp_path):
    page.get_by_role("tab", name="Similar tracks").click()
    page.click("#lb-similar")  # default inputs: nothing chosen
    status_has(page, "#lb-similar-status", "Upload a clip or pick a track.")
    page.click("#lb-similar-pick input")
    page.get_by_role("option", name="tone440", exact=False).first.click()
    page.click("#lb-similar")
    status_has(page, "#lb-similar-status", "Tracks like “tone440.flac”")  # a title, not #id
    assert "#" not in page.inner_text("#lb-similar-status").split(":")[0]
    page.set_input_files("#lb-similar-upload input[type=file]",
                         str(tone(tmp_path / "query.wav", 1760, 4.0)))
    page.wait_for_selector("#lb-similar-upload audio, #lb-similar-upload .waveform-container",
                           state="attached")
    page.click("#lb-similar")
    status_has(page, "#lb-similar-status", "uploaded clip")
    first_card_has(page, "#lb-similar-results", "tone1760.flac")  # replaces the earlier list
    no_error_toast(page)
    shot(page, "similar")


def test_tagging_defaults_bad_inputs_and_custom_tags(page, tmp_path):
    page.get_by_role("tab", name="Zero-shot tagging").click()
    page.click("#lb-tag")  # nothing uploaded
    status_has(page, "#lb-tag-bars", "Upload an audio file first.")
    page.set_input_files("#lb-tag-upload input[type=file]",
                         str(tone(tmp_path / "tagme.wav", 440, 4.0)))
    page.wait_for_selector("#lb-tag-upload audio, #lb-tag-upload .waveform-container",
                           state="attached")
    page.click("#lb-tag")  # default tags (empty box) and default template
    page.wait_for_selector(".lb-bar-row")
    rows = page.locator(".lb-bar-row")
    assert rows.count() == len(TaggedToneModel.default_tags)
    assert rows.first.get_attribute("data-tag") == "tone at 440 Hz"
    no_error_toast(page)
    page.fill("#lb-template textarea", "A track")
    page.click("#lb-tag")
    status_has(page, "#lb-tag-bars", "where the tag goes")
    page.fill("#lb-tags textarea", "tone at 220 Hz, tone at 440 Hz, tone at 1760 Hz")
    page.fill("#lb-template textarea", "a {}")
    page.click("#lb-tag")
    page.wait_for_function("document.querySelectorAll('.lb-bar-row').length == 3")
    widths = page.evaluate("[...document.querySelectorAll('.lb-bar')].map(b => b.offsetWidth)")
    assert widths[0] > 3 * widths[1] > 0
    shot(page, "tagging")


def test_music_map_tab_hover_click_and_highlight(page):
    page.get_by_role("tab", name="Music map").click()
    frame = page.frame_locator("#lb-map-frame")
    frame.locator("body[data-ready='1']").wait_for()
    mp = page.frame(url=lambda u: "/lyrebird/map" in u)
    ids = mp.evaluate("fetch('/lyrebird/map/data').then(r => r.json()).then(d => d.ids)")
    x, y = mp.evaluate(f"window.lbMap.screenOf({ids[0]})")
    box = page.locator("#lb-map-frame").bounding_box()
    page.mouse.move(box["x"] + 1 + x, box["y"] + 1 + y)
    frame.locator("#tip").wait_for(state="visible")
    assert frame.locator("#tip").inner_text().endswith(".flac")
    page.mouse.click(box["x"] + 1 + x, box["y"] + 1 + y)
    mp.wait_for_function(f"document.querySelectorAll('#sim li').length === {len(FREQS) - 1}")
    assert frame.locator("#sel audio").get_attribute("src").endswith(f"/lyrebird/audio/{ids[0]}")
    frame.locator("#go").click()  # the default: an empty description
    mp.wait_for_function("document.getElementById('msg').innerText.includes('Type a description')")
    frame.locator("#q").fill("tone at 880 Hz")
    frame.locator("#go").click()
    mp.wait_for_function("document.getElementById('msg').innerText.includes('best matches')")
    top = mp.evaluate("window.lbMap.highlighted()")
    assert len(top) == len(FREQS)
    frame.locator("#colour").select_option(index=1)  # genre: none here, drawn grey
    shot(page, "map")
    no_error_toast(page)


def test_playlist_tab_defaults_download_and_bad_input(page):
    page.get_by_role("tab", name="Playlist").click()
    page.click("#lb-pl-make")  # the pre-filled description and 20 tracks
    status_has(page, "#lb-pl-status", "tracks")
    items = page.locator("#lb-pl-list li.lb-pl-item")
    assert items.count() == len(FREQS)  # every track once: the library has four
    with page.expect_download() as dl:
        page.click("#lb-pl-download")
    text = Path(dl.value.path()).read_text(encoding="utf-8")
    assert text.startswith("#EXTM3U") and text.count(".flac") == len(FREQS)
    assert dl.value.suggested_filename.endswith(".m3u8")
    shot(page, "playlist")
    page.fill("#lb-pl-query textarea", "   ")
    page.click("#lb-pl-make")
    status_has(page, "#lb-pl-status", "Describe the playlist")
    no_error_toast(page)


def test_library_tab_stats_and_a_bad_folder(page):
    page.get_by_role("tab", name="Library").click()
    stats = page.locator("#lb-stats")
    stats.wait_for()
    text = stats.inner_text()
    assert f"Tracks\t{len(FREQS)}" in text and "flat" in text and "tone" in text
    page.click("#lb-add")  # default input: no folder
    status_has(page, "#lb-add-report", "is not a folder on the server")
    assert page.outside == []


def test_library_tab_adds_a_folder_with_a_per_file_report(own_page, tmp_path):
    page = own_page
    page.get_by_role("tab", name="Library").click()
    folder = tmp_path / "more"
    folder.mkdir()
    tone(folder / "tone3520.flac", 3520)
    (folder / "broken.flac").write_bytes(b"fLaC" + bytes(64))
    page.fill("#lb-folder textarea", str(folder))
    page.click("#lb-add")
    status_has(page, "#lb-add-report", "Added")
    report = page.locator("#lb-add-report").inner_text()
    assert "Added 1" in report and "failed 1" in report
    assert "broken.flac" in page.locator("#lb-add-report li.lb-error").inner_text()
    page.wait_for_function("document.querySelector('#lb-stats').innerText"
                           f".includes('Tracks\\t{len(FREQS) + 1}')")
    shot(page, "library")
    no_error_toast(page)
    assert page.outside == []


GLYPHS_JS = """(sel) => {
  // Each character drawn in the element's own font on a canvas, compared with a character no
  // font has (drawn as the missing-glyph box): a character drawn like the box is tofu.
  const el = document.querySelector(sel);
  const font = getComputedStyle(el).font;
  const draw = (ch) => {
    const c = document.createElement('canvas'); c.width = 64; c.height = 64;
    const g = c.getContext('2d'); g.font = font; g.textBaseline = 'top';
    g.fillStyle = '#000'; g.fillText(ch, 4, 4);
    return Array.from(g.getImageData(0, 0, 64, 64).data).join(',');
  };
  const tofu = draw('\\u{10FFFD}');
  const text = el.innerText;
  const chars = [...text].filter(ch => ch.trim() && ch.charCodeAt(0) > 0x2000);
  return {font, family: getComputedStyle(el).fontFamily,
          tofu: chars.filter(ch => draw(ch) === tofu || draw(ch) === draw('')), chars};
}"""


def test_japanese_titles_and_emoji_render_in_one_system_font(browser, tmp_path):
    """Bold titles use the system font stack (not a 55-glyph webfont), and a Japanese title
    with an emoji draws real glyphs, not empty boxes (Debian: fonts-noto-cjk and
    fonts-noto-color-emoji, installed by .ci/setup)."""
    from ui_library import tag_file

    from lyrebird.index import Library

    music = tmp_path / "music"
    music.mkdir()
    tag_file(tone(music / "yoru.flac", 440), title="夜の散歩 🎹", artist="Ōkami")
    Library.create(tmp_path / "lib", TaggedToneModel()).add([music])
    srv = _serve(tmp_path / "lib")
    pg = _open(browser, srv)
    try:
        pg.fill("#lb-query textarea", "tone at 440 Hz")
        pg.click("#lb-search")
        pg.wait_for_selector("#lb-search-results .lb-card .lb-title")
        pg.evaluate("document.fonts.ready")
        res = pg.evaluate(GLYPHS_JS, "#lb-search-results .lb-card .lb-title")
        shot(pg, "fonts")
    finally:
        pg.close()
        srv.stop()
    assert "夜の散歩" in "".join(res["chars"]) and "🎹" in res["chars"], res
    assert "Source Sans" not in res["family"] and "system-ui" in res["family"], res
    assert res["tofu"] == [], f"drawn as empty boxes: {res['tofu']} in {res['font']}"
