"""The music map: the library laid out in 2-D, served as a small canvas page of the app.

Routes (mounted by :func:`mount_map` on the app's FastAPI, under the app's auth):

- ``GET /lyrebird/map``: the page (``map_page.PAGE``: HTML, CSS and a canvas script inline;
  nothing is fetched from outside the server);
- ``GET /lyrebird/map/data``: every track's position (PCA of the track vectors, see
  :func:`lyrebird.ui.snapshot.project`), title and colourings (top chip, genre), built once per
  library state and cached with it;
- ``GET /lyrebird/map/tag?name=…``: per-track margin of one chip over its threshold;
- ``GET /lyrebird/map/search?q=…``: the best matches of a text query, to highlight;
- ``GET /lyrebird/map/similar/<id>``: the tracks most like one track.

Bad input gets HTTP 400/404 with ``{"error": message}``, which the page shows.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np

from .map_page import PAGE
from .service import LibraryService, UserError

MAP_ROUTE = "/lyrebird/map"
MAX_CATEGORIES = 10  # colours; rarer values are drawn as "other"


def _categorical(values: list[str | None]) -> dict:
    """``{"names": [...], "idx": [...]}``: the most frequent values, then "other"; -1 = none."""
    common = [v for v, _ in Counter(v for v in values if v).most_common()]
    names = common[:MAX_CATEGORIES]
    pos = {v: i for i, v in enumerate(names)}
    other = len(names) if len(common) > MAX_CATEGORIES else None
    idx = [pos.get(v, other if v else -1) if v else -1 for v in values]
    idx = [-1 if i is None else i for i in idx]
    return {"names": names + (["other"] if other is not None else []), "idx": idx}


def map_data(service: LibraryService) -> bytes:
    """The ``/data`` JSON (bytes), cached on the library snapshot."""
    snap = service.snapshot()
    if snap.map_json is not None:
        return snap.map_json
    xy = np.round(snap.xy.astype(np.float64), 4)
    labels = [(r.title or Path(r.path).name) + (f" — {r.artist}" if r.artist else "")
              for r in snap.rows]
    genre = _categorical([r.genre for r in snap.rows])
    top = _categorical([c[0] if c else None for c in snap.chips])
    colourings = {"genre": genre, "top tag": top} if genre["names"] else {"top tag": top,
                                                                         "genre": genre}
    body = {"n": len(snap), "ids": [int(i) for i in snap.ids], "x": xy[:, 0].tolist(),
            "y": xy[:, 1].tolist(), "label": labels, "colourings": colourings,
            "tags": list(snap.rule.groups) if snap.rule is not None else []}
    snap.map_json = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
    return snap.map_json


def tag_values(service: LibraryService, name: str) -> list[float]:
    """Per-track margin (cosine) of chip ``name`` over its threshold, in map order."""
    snap = service.snapshot()
    if snap.rule is None or name not in snap.rule.groups:
        raise UserError(f"No tag '{name}' here; choose one from the list.")
    m = snap.rule.margins(snap.scores)[:, snap.rule.groups.index(name)]
    return np.round(m, 4).tolist()


def highlight(service: LibraryService, query: str, k: int = 50) -> dict:
    """The ``k`` best tracks for ``query``: ids and scores, best first."""
    hits = service.search(query, k, group=False)
    return {"ids": [h["track_id"] for h in hits], "scores": [round(h["score"], 4) for h in hits]}


def neighbours(service: LibraryService, track_id: int, k: int = 8) -> dict:
    """A track's title and its ``k`` most similar tracks (one per work)."""
    hits = service.similar(int(track_id), k)
    return {"track_id": int(track_id), "title": service.title(track_id),
            "hits": [{"track_id": h["track_id"], "title": h["title"] or Path(h["path"]).name,
                      "artist": h["artist"], "score": round(h["score"], 4)} for h in hits]}


def mount_map(api, service: LibraryService) -> None:
    """Add the map's routes to the FastAPI ``api`` (before Gradio is mounted at ``/``)."""
    from fastapi.responses import HTMLResponse, JSONResponse, Response

    def answer(fn, *args):
        try:
            return JSONResponse(fn(*args))
        except UserError as e:
            status = 404 if str(e).startswith("No track") else 400
            return JSONResponse({"error": str(e)}, status_code=status)

    @api.get(MAP_ROUTE)
    def map_page() -> HTMLResponse:
        return HTMLResponse(PAGE)

    @api.get(MAP_ROUTE + "/data")
    def map_points() -> Response:
        return Response(map_data(service), media_type="application/json")

    @api.get(MAP_ROUTE + "/tag")
    def map_tag(name: str = "") -> JSONResponse:
        return answer(lambda n: {"values": tag_values(service, n)}, name)

    @api.get(MAP_ROUTE + "/search")
    def map_search(q: str = "", k: int = 50) -> JSONResponse:
        return answer(highlight, service, q, k)

    @api.get(MAP_ROUTE + "/similar/{track_id}")
    def map_similar(track_id: int, k: int = 8) -> JSONResponse:
        return answer(neighbours, service, track_id, k)
