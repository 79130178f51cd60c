"""The Gradio Blocks: text search, similar tracks, zero-shot tagging, the music map, playlists
and the library tab.

Handlers never raise on bad input: a :class:`~lyrebird.ui.service.UserError` becomes a message
shown where the results would be.
"""

from __future__ import annotations

from pathlib import Path

import gradio as gr

from lyrebird.mulan.vocabulary import DEFAULT_TEMPLATE

from . import views
from .playlist_tab import playlist_tab
from .service import LibraryService, UserError

EXAMPLE_QUERIES = ["calm solo piano", "a fast drum groove", "string quartet in a minor key",
                   "ruhige Klaviermusik", "musique celtique avec une flûte",
                   "guitarra acústica tranquila"]


EXAMPLES_NOTE = "examples"
"""The library note (:mod:`lyrebird.index.notes`) holding its example searches."""


def library_examples(library: str | Path) -> list[str]:
    """The example searches the app offers for ``library``: the ones stored with it (``lyrebird
    demo`` stores its own), else :data:`EXAMPLE_QUERIES`. ``lyrebird serve`` and ``lyrebird
    demo`` both ask this, so one library shows one set."""
    from lyrebird.index.notes import read_note

    stored = read_note(library, EXAMPLES_NOTE)
    if isinstance(stored, list) and stored and all(isinstance(q, str) for q in stored):
        return list(stored)
    return list(EXAMPLE_QUERIES)


FONT_STACK = ("system-ui", "-apple-system", "Segoe UI", "Roboto", "Noto Sans", "Helvetica Neue",
              "Arial", "Noto Sans CJK JP", "Noto Sans JP", "sans-serif", "Apple Color Emoji",
              "Segoe UI Emoji", "Noto Color Emoji")
"""The app's typeface: the system's own fonts, complete for every script they cover (Gradio's
bundled Source Sans Pro SemiBold holds 55 glyphs, so bold titles mixed two typefaces), then
CJK and colour-emoji fonts for titles in Japanese or with emoji."""


def theme() -> gr.themes.Base:
    """Gradio's default look with the system font stack (:data:`FONT_STACK`; no font CDN, no
    partial webfont)."""
    return gr.themes.Default(font=list(FONT_STACK),
                             font_mono=["ui-monospace", "DejaVu Sans Mono", "monospace"])


def _results(service: LibraryService, hits_state: gr.State, status: gr.HTML, elem_id: str) -> None:
    """Render a result list (cards with players and "More like this") from ``hits_state``."""

    with gr.Column(elem_id=elem_id):
        _result_list(service, hits_state, status)


def _result_list(service: LibraryService, hits_state: gr.State, status: gr.HTML) -> None:
    @gr.render(inputs=hits_state)
    def show(hits: list[dict]) -> None:
        for rank, hit in enumerate(hits or [], 1):
            name = hit.get("title") or Path(hit["path"]).name
            with gr.Row():
                with gr.Column(scale=8):
                    gr.HTML(views.hit_card(hit, rank), js_on_load=None)
                with gr.Column(scale=1, min_width=110):
                    more = gr.Button("More like this", size="sm", elem_classes=["lb-more"])
                more.click(lambda tid=int(hit["track_id"]), name=name:
                           _similar(service, tid, 10, f"Tracks like “{name}”"),
                           None, [hits_state, status])


def _similar(service: LibraryService, item, k: float, title: str,
             group: bool = True) -> tuple[list[dict], str]:
    try:
        hits = service.similar(item, int(k), group=group)
    except UserError as e:
        return [], views.message(str(e), error=True)
    return hits, views.message(f"{title}: {len(hits)} results")


def build_blocks(service: LibraryService, examples: list[str] | None = None) -> gr.Blocks:
    """The app's tabs over ``service``; ``examples`` (default: :func:`library_examples`) are
    offered as first queries."""
    # delete_cache: Gradio's copies of uploads and outputs go after an hour (checked every
    # 10 minutes) and all of them when the server stops.
    with gr.Blocks(title="Lyrebird", analytics_enabled=False, delete_cache=(600, 3600)) as blocks:
        gr.Markdown("## Lyrebird — music search\nSearch your library by text in any language, "
                    "find similar tracks, tag audio zero-shot, explore the map of your music "
                    "and make playlists from a description.")
        with gr.Tabs():
            _search_tab(service, examples or library_examples(service.path))
            _similar_tab(service)
            _tag_tab(service)
            _map_tab()
            playlist_tab(service)
            _library_tab(service)
    return blocks


def _search_tab(service: LibraryService, examples: list[str]) -> None:
    with gr.Tab("Text search", id="search"):
        with gr.Row():
            query = gr.Textbox(label="Describe the music (any language)", scale=6,
                               elem_id="lb-query", placeholder="e.g. calm solo piano")
            k = gr.Slider(1, 50, value=10, step=1, label="Results (k)", scale=2,
                          info="How many tracks to show, best first.", elem_id="lb-k")
            go = gr.Button("Search", variant="primary", scale=1, elem_id="lb-search")
        tries = gr.Dataset(components=[query], samples=[[q] for q in examples], label="Try",
                           elem_id="lb-examples")
        group_box = gr.Checkbox(True, label="One result per work", elem_id="lb-group")
        group = gr.State(True)  # a State, so the "search" API keeps its (query, k) inputs
        group_box.change(lambda v: bool(v), group_box, group)
        status = gr.HTML(elem_id="lb-search-status")
        hits = gr.State([])

        def run(q: str, k: float, group: bool = True) -> tuple[list[dict], str]:
            try:
                res = service.search(q, int(k), group=bool(group))
            except UserError as e:
                return [], views.message(str(e), error=True)
            return res, views.message(f"{len(res)} results for “{q.strip()}”")

        def run_example(sample: list[str], k: float, group: bool) -> tuple[str, list[dict], str]:
            q = sample[0] if sample else ""
            return q, *run(q, k, group)

        go.click(run, [query, k, group], [hits, status], api_name="search")
        query.submit(run, [query, k, group], [hits, status])
        tries.click(run_example, [tries, k, group], [query, hits, status])
        _results(service, hits, status, "lb-search-results")


def _similar_tab(service: LibraryService) -> None:
    with gr.Tab("Similar tracks", id="similar"):
        with gr.Row():
            clip = gr.Audio(label="Upload a clip", type="filepath", sources=["upload"],
                            elem_id="lb-similar-upload")
            with gr.Column():
                pick = gr.Dropdown(service.tracks(), value=None, label="…or pick a library track",
                                   elem_id="lb-similar-pick")
                k = gr.Slider(1, 50, value=10, step=1, label="Results (k)",
                              info="How many similar tracks to show, best first.")
                group_box = gr.Checkbox(True, label="One result per work")
                go = gr.Button("Find similar tracks", variant="primary", elem_id="lb-similar")
        group = gr.State(True)  # the "similar" API keeps its (clip, track, k) inputs
        group_box.change(lambda v: bool(v), group_box, group)
        status = gr.HTML(elem_id="lb-similar-status")
        hits = gr.State([])

        def run(path: str | None, track_id: int | None, k: float,
                group: bool) -> tuple[list[dict], str]:
            if path:
                return _similar(service, path, k, "Tracks like the uploaded clip", group)
            if track_id is not None:
                title = service.title(int(track_id))
                return _similar(service, int(track_id), k, f"Tracks like “{title}”", group)
            return [], views.message("Upload a clip or pick a track.", error=True)

        go.click(run, [clip, pick, k, group], [hits, status], api_name="similar")
        _results(service, hits, status, "lb-similar-results")


def _tag_tab(service: LibraryService) -> None:
    with gr.Tab("Zero-shot tagging", id="tag"):
        with gr.Row():
            clip = gr.Audio(label="Audio to tag", type="filepath", sources=["upload"],
                            elem_id="lb-tag-upload")
            with gr.Column():
                tags = gr.Textbox(label="Tags (comma-separated; empty = the model's own "
                                        "vocabulary, MTT top-50 for MuLan)", elem_id="lb-tags")
                template = gr.Textbox(DEFAULT_TEMPLATE, label="Prompt template ({} = the tag)",
                                      elem_id="lb-template")
                go = gr.Button("Tag", variant="primary", elem_id="lb-tag")
        bars = gr.HTML(elem_id="lb-tag-bars")

        def run(path: str | None, tags_text: str, template_text: str) -> str:
            wanted = [t.strip() for t in (tags_text or "").split(",") if t.strip()]
            try:
                scores = service.tag_audio(path, wanted or None, template_text or DEFAULT_TEMPLATE)
            except UserError as e:
                return views.message(str(e), error=True)
            return views.tag_bars(scores)

        go.click(run, [clip, tags, template], bars, api_name="tag")


def _map_tab() -> None:
    with gr.Tab("Music map", id="map"):
        gr.Markdown("Every track as a dot, placed by the first two principal components of its "
                    "vector (similar music lies close). Colour by the top tag, the genre tag or "
                    "one tag; hover for the title; click to play and ring similar tracks; type a "
                    "description to ring where its best matches sit.")
        gr.HTML(views.map_frame(), elem_id="lb-map", js_on_load=None)


def _library_tab(service: LibraryService) -> None:
    with gr.Tab("Library", id="library"):
        stats = gr.HTML(views.stats_table(service.stats()), elem_id="lb-stats")
        refresh = gr.Button("Refresh", size="sm")
        with gr.Row():
            folder = gr.Textbox(label="Add a folder (a path on the server; recursive)", scale=5,
                                elem_id="lb-folder", interactive=service.allow_add)
            add = gr.Button("Add folder", variant="primary", scale=1, elem_id="lb-add",
                            interactive=service.allow_add)
        report = gr.HTML(elem_id="lb-add-report")

        def do_add(path: str, progress: gr.Progress = gr.Progress()) -> tuple[str, str]:
            try:
                rep = service.add_folder(path, lambda f, msg: progress(f, desc=msg))
            except UserError as e:
                return views.message(str(e), error=True), views.stats_table(service.stats())
            return views.add_report(rep.to_dict()), views.stats_table(service.stats())

        refresh.click(lambda: views.stats_table(service.stats()), None, stats)
        add.click(do_add, folder, [report, stats], concurrency_limit=1)
