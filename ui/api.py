"""The JSON API beside the app, mounted at ``/api`` on the same server (:func:`make_api`).

=====================================  =================================================
``GET  /api/search?q=&k=&group=``     text → tracks: ``{"query", "k", "hits": [Hit]}``
``GET  /api/similar/{track_id}?k=``    tracks like a library track: ``{"track_id", "k", "hits"}``
                                       (``group=0``: every version of a work, not one)
``POST /api/similar?k=``               tracks like uploaded audio (excerpt → source, with the
                                       matching moment): ``{"k", "hits"}``
``POST /api/tag?tags=&template=``      zero-shot tags of uploaded audio:
                                       ``{"template", "tags": [{"tag", "score"}]}``
``GET  /api/playlist?q=&n=…``          a playlist: ``{"params", "items": [PlaylistItem]}``
``GET  /api/tracks/{track_id}``        one track: ``{"track_id", "path", "title", …}``
``GET  /api/info``                     the library: tracks, hours, index, model, …
=====================================  =================================================

A Hit is ``{"track_id", "path", "score", "start_s", "end_s", "title", "artist", "tags",
"more_of_work", "audio_url"}``; results are one per work unless ``group=0``, as in the app. Uploads are the request body, raw (``Content-Type: audio/...``) or as the
``file`` field of a multipart form, at most ``Limits.max_upload_bytes`` (HTTP 413 beyond).
Bad input gets HTTP 400/404/413 with ``{"error": message}``, never a traceback; an unexpected
failure gets 500 with a generic message (logged on the server). The API only reads, so
``--readonly`` leaves it as it is; ``--auth`` covers it like every route.

Handlers are plain functions run on the server's thread pool: each thread holds its own
read-only library, model calls take turns (the service's model lock) and text vectors are
cached process-wide (:data:`lyrebird.index.model.TEXT_CACHE`).
"""

from __future__ import annotations

import logging
import tempfile
import threading
from pathlib import Path

from fastapi import Request  # at module level: FastAPI resolves the handlers' annotations here

from lyrebird.encoders import AudioError
from lyrebird.index import Library, LibraryError

from .service import LibraryService, UserError
from .views import AUDIO_ROUTE

log = logging.getLogger("lyrebird.ui")
MULTIPART_SLACK = 64 * 1024  # form boundaries and headers around an uploaded file
SUFFIXES = {"audio/mpeg": ".mp3", "audio/ogg": ".ogg", "audio/flac": ".flac", "audio/x-flac": ".flac",
            "audio/wav": ".wav", "audio/x-wav": ".wav", "audio/wave": ".wav", "audio/opus": ".opus",
            "audio/mp4": ".m4a", "audio/aac": ".aac"}


class ApiError(Exception):
    """An answer other than 200: HTTP ``status`` and a message for the caller."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


def _number(value: str | None, name: str, default, lo, hi, kind: type = int):
    """Query parameter ``name`` as ``kind`` (int or float) in ``[lo, hi]``; 400 otherwise."""
    if value is None or value == "":
        return default
    try:
        v = kind(value)
    except ValueError:
        what = "an integer" if kind is int else "a number"
        raise ApiError(400, f"{name} must be {what}, got {value!r}") from None
    if not lo <= v <= hi:
        raise ApiError(400, f"{name} must be between {lo} and {hi}, got {v}")
    return v


def _int(value: str | None, name: str, default: int, lo: int, hi: int) -> int:
    return _number(value, name, default, lo, hi, int)


def _float(value: str | None, name: str, default: float, lo: float, hi: float) -> float:
    return _number(value, name, default, lo, hi, float)


def _flag(value: str | None, name: str, default: bool = True) -> bool:
    """A boolean query parameter (``1/0``, ``true/false``, ``yes/no``); 400 otherwise."""
    if value is None or value == "":
        return default
    v = value.strip().lower()
    if v in ("1", "true", "yes", "on"):
        return True
    if v in ("0", "false", "no", "off"):
        return False
    raise ApiError(400, f"{name} must be 1 or 0 (true or false), got {value!r}")


def _hits(hits) -> list[dict]:
    return [{**h.to_dict(), "audio_url": f"{AUDIO_ROUTE}/{h.track_id}"} for h in hits]


class Api:
    """The endpoints' logic over the library of a :class:`LibraryService` (its path, model,
    upload limits and read-only flag); framework-free, so each piece is testable. Results come
    from :class:`lyrebird.index.Library` itself, so their fields are the library's."""

    def __init__(self, service: LibraryService):
        self.service = service
        self._local = threading.local()

    def lib(self) -> Library:
        lib = getattr(self._local, "lib", None)
        if lib is None:
            lib = self._local.lib = Library.open(self.service.path, model=self.service.model,
                                                 readonly=True)
        return lib

    def _text(self) -> None:
        if not self.service.model.has_text:
            raise ApiError(400, "this library's model has no text tower; use similar or seeds")

    def _known(self, track_id: int | str) -> int:
        """``track_id`` of a track in the library; 404 for anything else (huge numbers too)."""
        try:
            tid = self.service.track_id(track_id)
            self.lib().track(tid)
        except (LibraryError, UserError):
            raise ApiError(404, f"No track with id {track_id} in this library.") from None
        return tid

    def search(self, q: str | None, k: str | None, group: str | None = None) -> dict:
        if not q or not q.strip():
            raise ApiError(400, "q is required: a text query, e.g. q=calm+piano")
        k_ = _int(k, "k", 10, 1, self.service.limits.max_k)
        self._text()
        query = self.service.query_text(q)
        return {"query": q, "k": k_,
                "hits": _hits(self.lib().search(query, k_, group=_flag(group, "group")))}

    def similar_track(self, track_id: int | str, k: str | None, group: str | None = None) -> dict:
        k_ = _int(k, "k", 10, 1, self.service.limits.max_k)
        tid = self._known(track_id)
        return {"track_id": tid, "k": k_,
                "hits": _hits(self.lib().similar(tid, k_, group=_flag(group, "group")))}

    def similar_upload(self, path: Path, k: str | None, name: str | None = None) -> dict:
        k_ = _int(k, "k", 10, 1, self.service.limits.max_k)
        p = self.service.check_upload(path, name)
        return {"k": k_, "hits": _hits(self.lib().similar(p, k_))}

    def tag(self, path: Path, tags: str | None, template: str | None,
            name: str | None = None) -> dict:
        from lyrebird.mulan.vocabulary import DEFAULT_TEMPLATE, check_template

        wanted = self.service.tag_list((tags or "").split(","))
        template = check_template(template or DEFAULT_TEMPLATE)
        self._text()
        lib = self.lib()
        scores = lib.tag_vector(lib.audio_vector(self.service.check_upload(path, name)), wanted,
                                template)
        return {"template": template, "tags": [{"tag": t, "score": s} for t, s in scores.items()]}

    def playlist(self, params) -> dict:
        seeds = [s for s in (params.get("seeds") or "").replace(" ", "").split(",") if s]
        if any(not s.isdigit() for s in seeds):
            raise ApiError(400, f"seeds must be comma-separated track ids, got {params['seeds']!r}")
        q = (params.get("q") or "").strip() or None
        if not q and not seeds:
            raise ApiError(400, "give q (a text query) or seeds (track ids)")
        if q:
            self._text()
        order = params.get("order") or "relevance"
        if order not in ("relevance", "smooth"):
            raise ApiError(400, f"order must be 'relevance' or 'smooth', got {order!r}")
        caps = {name: _int(params.get(name), name, 0, 0, 1000) or None
                for name in ("max_per_artist", "max_per_album")}
        ids = [self._known(s) for s in seeds]
        if q:
            q = self.service.query_text(q)
        pl = self.lib().playlist(q, seeds=ids or None,
                                 n=_int(params.get("n"), "n", 20, 1, 500),
                                 into=(params.get("into") or "").strip() or None,
                                 lam=_float(params.get("lam"), "lam", 0.7, 0.0, 1.0),
                                 order=order, **caps)
        return pl.to_dict()

    def track(self, track_id: int | str) -> dict:
        r = self.lib().track(self._known(track_id))
        return {"track_id": r.id, "path": r.path, "title": r.title, "artist": r.artist,
                "genre": r.genre, "duration_s": r.duration_s, "tags": r.zs_tags,
                "file_tags": r.file_tags, "added_at": r.added_at,
                "audio_url": f"{AUDIO_ROUTE}/{r.id}"}

    def info(self) -> dict:
        return {**self.lib().info(), "readonly": not self.service.allow_add}


async def read_upload(request, limit: int) -> tuple[Path, dict[str, str], str]:
    """The uploaded file (raw body or multipart ``file``) in a temporary file, the form's
    text fields, and the name to show in messages (the form's file name, else "the upload");
    413 past ``limit`` bytes, counted as the body arrives (nothing larger is held)."""
    size = request.headers.get("content-length")
    if size and size.isdigit() and int(size) > limit + MULTIPART_SLACK:
        raise ApiError(413, f"upload is {int(size) / 2**20:.1f} MiB; the limit is "
                            f"{limit / 2**20:.0f} MiB")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit + MULTIPART_SLACK:
            raise ApiError(413, f"upload exceeds the limit of {limit / 2**20:.0f} MiB")
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    name, fields = "the upload", {}
    if ctype == "multipart/form-data":
        request._body = bytes(body)  # Starlette parses the form from the body read above
        form = await request.form(max_files=1, max_fields=10)
        f = form.get("file")
        if f is None or isinstance(f, str):
            raise ApiError(400, "multipart upload needs the audio in a field named 'file'")
        data, name = await f.read(), Path(f.filename or "the upload").name
        fields = {k: v for k, v in form.items() if isinstance(v, str)}
    else:
        data = bytes(body)
    if not data:
        raise ApiError(400, "the upload is empty: send audio as the body or a 'file' form field")
    if len(data) > limit:
        raise ApiError(413, f"upload is {len(data) / 2**20:.1f} MiB; the limit is "
                            f"{limit / 2**20:.0f} MiB")
    suffix = Path(name).suffix.lower() or SUFFIXES.get(ctype, "")
    with tempfile.NamedTemporaryFile(prefix="lyrebird-api-", suffix=suffix, delete=False) as tmp:
        tmp.write(data)
    return Path(tmp.name), fields, name


def make_api(service: LibraryService):
    """The FastAPI sub-application to mount at ``/api``."""
    from fastapi import FastAPI
    from fastapi.concurrency import run_in_threadpool
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse

    core = Api(service)
    app = FastAPI(title="Lyrebird API", docs_url=None, redoc_url=None, openapi_url=None)
    limit = service.limits.max_upload_bytes

    @app.exception_handler(ApiError)
    async def api_error(_, e: ApiError):
        return JSONResponse({"error": e.message}, status_code=e.status)

    @app.exception_handler(RequestValidationError)
    async def invalid(_, e: RequestValidationError):
        msgs = [f"{'.'.join(str(x) for x in err.get('loc', [])[1:])}: {err.get('msg')}"
                for err in e.errors()]
        return JSONResponse({"error": "; ".join(msgs) or "invalid request"}, status_code=400)

    @app.exception_handler(404)
    async def not_found(_, e):
        return JSONResponse({"error": "no such endpoint"}, status_code=404)

    @app.exception_handler(Exception)
    async def unexpected(_, e: Exception):
        log.exception("API error")
        return JSONResponse({"error": "internal error (logged on the server)"}, status_code=500)

    def call(fn, *args):
        try:
            return fn(*args)
        except UserError as e:
            raise ApiError(400, str(e)) from None
        except (LibraryError, AudioError, ValueError) as e:
            raise ApiError(400, str(e)) from None

    @app.get("/search")
    def search(q: str | None = None, k: str | None = None, group: str | None = None):
        return call(core.search, q, k, group)

    @app.get("/similar/{track_id}")
    def similar_track(track_id: str, k: str | None = None, group: str | None = None):
        return call(core.similar_track, track_id, k, group)

    async def with_upload(request: Request, fn, *names: str):
        path, fields, shown = await read_upload(request, limit)
        args = [request.query_params.get(n, fields.get(n)) for n in names]
        try:
            return await run_in_threadpool(call, fn, path, *args, shown)
        finally:
            path.unlink(missing_ok=True)

    @app.post("/similar")
    async def similar_upload(request: Request):
        return await with_upload(request, core.similar_upload, "k")

    @app.post("/tag")
    async def tag(request: Request):
        return await with_upload(request, core.tag, "tags", "template")

    @app.get("/playlist")
    def playlist(request: Request):
        return call(core.playlist, dict(request.query_params))

    @app.get("/tracks/{track_id}")
    def track(track_id: str):
        return call(core.track, track_id)

    @app.get("/info")
    def info():
        return call(core.info)

    return app
