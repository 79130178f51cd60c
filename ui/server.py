"""The web server: the Gradio app mounted in FastAPI, the library audio route, optional auth.

Safety by construction:
- it binds to 127.0.0.1 unless told otherwise;
- the only files it reads or serves are library tracks, looked up by integer id in the library
  (``/lyrebird/audio/<id>``; no path ever comes from the URL), and the request's own uploads:
  a Gradio call naming any other file is refused before Gradio reads it, and Gradio's file
  route serves only what this app uploaded or produced (:mod:`lyrebird.ui.guard`;
  ``allowed_paths`` is empty); Gradio's copies are deleted after an hour and at shutdown;
- ``auth`` protects every route, the audio route included, with HTTP Basic authentication,
  and failed logins are slowed per client (429 with ``Retry-After``);
- over-long URLs get 414 and over-large headers 431;
- a queue with bounded concurrency absorbs bursts instead of dropping requests;
- analytics are off and the theme uses system fonts, so a page load contacts nothing outside.
"""

from __future__ import annotations

import logging
import mimetypes
import os
import socket
import threading
import time
from collections.abc import Callable

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # before gradio is imported
# Gradio rebuilds a pandas summary of up to 10,000 past events after every event, for a
# monitoring dashboard this app does not enable: a quarter of the server's throughput under
# load (docs/benchmarks.md). Read when the queue is made; a user's own setting wins.
os.environ.setdefault("GRADIO_ANALYTICS_CACHE_FREQUENCY", str(10**9))

from lyrebird.index import LibraryModel

from .config import Limits, ServeConfig, parse_auth
from .guard import BasicAuth, RequestLimits, UploadGuard
from .service import LibraryService
from .views import AUDIO_ROUTE

# h11 resets a connection whose request head exceeds its buffer (16 KiB by default); a larger
# buffer lets RequestLimits answer an over-long URL (up to 2 MiB) with 414 instead.
UVICORN_LIMITS = {"http": "h11", "h11_max_incomplete_event_size": 2 * 2**20}

__all__ = ["BasicAuth", "Limits", "ServeConfig", "Server", "make_app", "parse_auth", "serve"]
log = logging.getLogger("lyrebird.ui")


def make_app(service: LibraryService, config: ServeConfig = ServeConfig(),
             examples: list[str] | None = None):
    """The ASGI app: FastAPI with the audio route, the JSON API at ``/api``
    (:mod:`lyrebird.ui.api`) and the Gradio UI mounted at ``/``.

    Uploads larger than the service's ``limits.max_upload_bytes`` are refused by the server.
    """
    import gradio as gr
    from fastapi import FastAPI, HTTPException
    from fastapi.responses import FileResponse

    from .api import make_api
    from .app import build_blocks, theme
    from .music_map import mount_map
    from .views import CSS

    api = FastAPI(title="Lyrebird", docs_url=None, redoc_url=None, openapi_url=None)

    @api.get(AUDIO_ROUTE + "/{track_id}")
    def track_audio(track_id: int) -> FileResponse:
        path = service.track_file(track_id)
        if path is None:
            raise HTTPException(404, f"no playable track with id {track_id}")
        media = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        return FileResponse(path, media_type=media)

    api.mount("/api", make_api(service))  # the JSON API (lyrebird.ui.api), before the UI at /
    mount_map(api, service)  # the music map page and its data (lyrebird.ui.music_map)
    blocks = build_blocks(service, examples)
    blocks.queue(default_concurrency_limit=config.concurrency, max_size=config.queue_size,
                 status_update_rate="auto" if config.queue_update_s is None
                 else config.queue_update_s)
    app = gr.mount_gradio_app(api, blocks, path="/", allowed_paths=[],
                              max_file_size=service.limits.max_upload_bytes, ssr_mode=False,
                              footer_links=[], theme=theme(), css=CSS, show_error=True)
    # Gradio checks that a call's files were uploaded only once launch() has run; a mounted app
    # never launches, so switch its own check on (UploadGuard refuses such calls before it).
    blocks.has_launched = True
    app = UploadGuard(app, blocks)
    if config.auth:
        app = BasicAuth(app, *config.auth)
    return RequestLimits(app)


class Server:
    """A uvicorn server on a background thread (tests, benchmarks, ``lyrebird demo``)."""

    def __init__(self, app, host: str = "127.0.0.1", port: int = 7860):
        import uvicorn

        self._server = uvicorn.Server(uvicorn.Config(app, host=host, port=port,
                                                     log_level="warning", lifespan="on",
                                                     **UVICORN_LIMITS))
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self.host, self.port = host, port

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/"

    def start(self, timeout_s: float = 30.0) -> Server:
        self._thread.start()
        t0 = time.monotonic()
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() - t0 > timeout_s:
                raise RuntimeError(f"server did not start on {self.url}")
            time.sleep(0.05)
        if self.port == 0:  # an ephemeral port: ask the socket
            self.port = self._server.servers[0].sockets[0].getsockname()[1]
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)


def serve(library: str | os.PathLike | LibraryService, config: ServeConfig = ServeConfig(), *,
          model: str | LibraryModel | None = None, limits: Limits = Limits(),
          allow_add: bool = True, examples: list[str] | None = None,
          announce: Callable[[str], None] | None = None) -> None:
    """Serve the app over ``library`` until interrupted (blocking).

    ``library`` is a library folder, opened with ``model`` (a spec or a model; default: the
    one the library names) on ``config.runtime``, ``limits`` and ``allow_add``, or a ready
    :class:`LibraryService` (those are then the service's own). ``config.port`` 0 picks a free
    port. The ``onnx-int8`` runtime serves queries only, so "add folder" is off with it.
    ``announce`` receives the URL line and, when the server is reachable from other machines
    without ``auth``, a warning (default: the ``lyrebird.ui`` logger). Raises ``ValueError`` /
    :class:`lyrebird.index.LibraryError` on a bad library or model.
    """
    import torch
    import uvicorn

    # Requests run side by side, each on one core: a thread team per request would wait for
    # partners descheduled by the other requests (a text query took 0.57 s instead of 0.05 s
    # on 2 busy cores).
    torch.set_num_threads(1)
    if isinstance(library, LibraryService):
        service = library
    else:
        service = LibraryService(library, model=model, limits=limits, allow_add=allow_add,
                                 runtime=config.runtime)
    service.warm_up()
    port = config.port or _free_port(config.host)
    shown = "localhost" if config.host in ("127.0.0.1", "localhost") else config.host
    (announce or log.info)(f"Lyrebird is serving '{service.path}' at http://{shown}:{port}/  "
                           "(Ctrl-C to stop)")
    if allow_add and not service.allow_add:
        (announce or log.info)(f"the {config.runtime} runtime serves queries only: 'add folder' "
                               "is off")
    if not config.loopback and not config.auth:
        (announce or log.warning)(f"warning: bound to {config.host} without --auth; anyone who "
                                  "can reach this port can search and add folders")
    uvicorn.run(make_app(service, config, examples), host=config.host, port=port,
                log_level="warning", **UVICORN_LIMITS)


def _free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]
