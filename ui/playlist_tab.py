"""The "Playlist" tab: a diverse playlist from a description, played here, downloaded as M3U.

"make a 20-track playlist: calm piano into strings" → :meth:`LibraryService.playlist`
(:meth:`lyrebird.index.Library.playlist`: one track per work, at most ``max per artist``,
maximal marginal relevance with ``λ``, "A into B" moving from A to B along the list). The list
is shown with a player per track and written to an ``.m3u8`` file (UTF-8 extended M3U with
the tracks' paths on the server) offered for download.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

import gradio as gr

from . import views
from .service import LibraryService, UserError

EXAMPLES = ["calm piano into strings", "a choir singing sacred music",
            "fast Irish dance tunes", "energetic drums into ambient"]


def make_playlist(service: LibraryService, query: str, n: float, lam: float,
                  per_artist: float) -> tuple[str, str, str | None]:
    """``(status html, list html, path of the .m3u8 or None)`` for the tab."""
    try:
        pl = service.playlist(query, int(n), float(lam), int(per_artist) or None)
    except UserError as e:
        return views.message(str(e), error=True), "", None
    items = pl.to_dict()["items"]
    if not items:
        return views.message("No tracks matched; is the library empty?", error=True), "", None
    slug = re.sub(r"[^a-z0-9]+", "-", query.lower()).strip("-")[:40] or "playlist"
    path = Path(tempfile.mkdtemp(prefix="lyrebird-playlist-")) / f"lyrebird-{slug}.m3u8"
    pl.write_m3u8(path)
    minutes = sum(it["duration_s"] for it in items) / 60
    short = (f" (not {int(n)}: no more tracks within one per work and the per-artist cap)"
             if len(items) < int(n) else "")
    note = views.message(f"{len(items)} tracks, {minutes:.0f} min, for “{query.strip()}”{short}")
    return note, views.playlist_list(items), str(path)


def playlist_tab(service: LibraryService) -> None:
    """Build the tab inside the current ``gr.Tabs``."""
    with gr.Tab("Playlist", id="playlist"):
        with gr.Row():
            query = gr.Textbox(label="Describe the playlist (\"A into B\" moves from A to B)",
                               value=EXAMPLES[0], scale=6, elem_id="lb-pl-query")
            go = gr.Button("Make playlist", variant="primary", scale=1, elem_id="lb-pl-make")
        with gr.Row():
            n = gr.Slider(2, 100, value=20, step=1, label="Tracks", elem_id="lb-pl-n")
            lam = gr.Slider(0.0, 1.0, value=0.7, step=0.05,
                            label="Relevance ↔ diversity (λ; 1 = relevance only)")
            per_artist = gr.Slider(0, 10, value=2, step=1, label="Max per artist (0 = no cap)")
        tries = gr.Dataset(components=[query], samples=[[q] for q in EXAMPLES], label="Try")
        status = gr.HTML(elem_id="lb-pl-status")
        download = gr.DownloadButton("Download M3U", visible=False, elem_id="lb-pl-download")
        listing = gr.HTML(elem_id="lb-pl-list", js_on_load=None)

        def run(q: str, n: float, lam: float, per: float):
            note, html, path = make_playlist(service, q, n, lam, per)
            return note, html, gr.DownloadButton(value=path, visible=path is not None)

        outs = [status, listing, download]
        go.click(run, [query, n, lam, per_artist], outs, api_name="playlist")
        query.submit(run, [query, n, lam, per_artist], outs)
        tries.click(lambda s, n, lam, per: (s[0], *run(s[0], n, lam, per)),
                    [tries, n, lam, per_artist], [query, *outs])
