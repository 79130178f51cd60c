"""Labelled numbers in the app and one set of example searches per library (issue #28)."""

from __future__ import annotations

import re
import shutil

from lyrebird.ui.views import number, playlist_list, tag_bars


def test_playlist_rows_label_length_and_match():
    html = playlist_list([{"track_id": 3, "path": "/m/a.flac", "title": "A", "artist": None,
                           "duration_s": 30.0, "score": 0.371}])
    assert "length 0:30 · match 0.37" in html and "0:30.0" not in html


def test_tag_bars_have_labels_and_no_negative_zero():
    html = tag_bars({"piano": 0.25, "drums": -0.0001, "choir": -0.2})
    shown = re.sub(r"<[^>]+>", " ", html)  # the text on screen
    assert "-0.000" not in shown and "match 0.000" in shown and "match -0.200" in shown
    assert "match (cosine)" in shown  # the column header
    assert number(-0.0004) == "0.000" and number(-0.0006) == "-0.001" and number(0.0) == "0.000"


def _app_parts(service):
    from lyrebird.ui.app import build_blocks

    blocks = build_blocks(service)
    comps = blocks.config["components"]
    sliders = [c["props"] for c in comps if c["type"] == "slider"]
    examples = next(c["props"]["samples"] for c in comps
                    if c["type"] == "dataset" and c["props"].get("elem_id") == "lb-examples")
    return sliders, [s[0] for s in examples]


def test_k_slider_is_named_and_explained(ui_service):
    sliders, _ = _app_parts(ui_service)
    k = [s for s in sliders if s.get("label") == "Results (k)"]
    assert len(k) == 2 and all(s.get("info") for s in k)


def test_serve_and_demo_show_the_examples_stored_with_the_library(ui_library, tmp_path):
    from ui_library import TaggedToneModel

    from lyrebird.index import Library
    from lyrebird.index.notes import read_note, write_note
    from lyrebird.ui import LibraryService
    from lyrebird.ui.app import EXAMPLE_QUERIES, library_examples

    lib_dir = tmp_path / "lib"
    shutil.copytree(ui_library, lib_dir)
    assert library_examples(lib_dir) == EXAMPLE_QUERIES  # nothing stored: the app's own
    mine = ["tone at 440 Hz", "a high tone"]
    with Library.open(lib_dir, model=TaggedToneModel()) as lib:
        write_note(lib, "examples", mine)
    assert read_note(lib_dir, "examples") == mine == library_examples(lib_dir)
    _, shown = _app_parts(LibraryService(lib_dir, model=TaggedToneModel()))
    assert shown == mine  # `lyrebird serve` (no examples given) shows the library's
