"""The web server: the Gradio app mounted in FastAPI, the library audio route, optional auth.

Safety by construction:
- it binds to 127.0.0.1 unless told otherwise;
- the only files it serves are library tracks, looked up by integer id in the library
  (``/lyrebird/audio/<id>``; no path ever comes from the URL), plus Gradio's own uploads and
  static assets (``allowed_paths`` is empty, so Gradio's file route refuses everything else);
- ``auth`` protects every route, the audio route included, with HTTP Basic authentication;
- a queue with bounded concurrency absorbs bursts instead of dropping requests;
- analytics are off and the theme uses system fonts, so a page load contacts nothing outside.
"""

from __future__ import annotations

import base64
import hmac
import mimetypes
import os
import threading
import time
from dataclasses import dataclass

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # before gradio is imported

from .service import LibraryService
from .views import AUDIO_ROUTE


@dataclass(frozen=True)
class ServeConfig:
    """How to serve: address, optional ``(user, password)``, queue bounds, upload size (MiB)."""

    host: str = "127.0.0.1"
    port: int = 7860
    auth: tuple[str, str] | None = None
    concurrency: int = 2        # handlers running at once; the rest wait in the queue
    queue_size: int = 512       # waiting requests beyond this are refused with a message
    max_upload_mb: int = 50


class BasicAuth:
    """ASGI middleware: every HTTP and websocket request needs ``user:password``."""

    def __init__(self, app, user: str, password: str):
        self.app = app
        self._token = base64.b64encode(f"{user}:{password}".encode()).decode()

    async def __call__(self, scope, receive, send):
        if scope["type"] in ("http", "websocket"):
            auth = dict(scope.get("headers", [])).get(b"authorization", b"").decode("latin-1")
            given = auth[6:] if auth.startswith("Basic ") else ""
            if not hmac.compare_digest(given.encode(), self._token.encode()):
                if scope["type"] == "websocket":
                    await send({"type": "websocket.close", "code": 1008})
                    return
                await send({"type": "http.response.start", "status": 401,
                            "headers": [(b"www-authenticate", b'Basic realm="Lyrebird"'),
                                        (b"content-type", b"text/plain")]})
                await send({"type": "http.response.body", "body": b"authentication required"})
                return
        await self.app(scope, receive, send)


def parse_auth(spec: str | None) -> tuple[str, str] | None:
    """``"user:pass"`` → ``("user", "pass")``; raises ``ValueError`` naming the expected form."""
    if not spec:
        return None
    user, sep, pw = spec.partition(":")
    if not sep or not user or not pw:
        raise ValueError(f"--auth {spec!r}: expected 'user:password'")
    return user, pw


def make_app(service: LibraryService, config: ServeConfig = ServeConfig(),
             examples: list[str] | None = None):
    """The ASGI app: FastAPI with the audio route and the Gradio UI mounted at ``/``."""
    import gradio as gr
    from fastapi import FastAPI, HTTPException
    from fastapi.responses import FileResponse

    from .app import build_blocks, theme
    from .views import CSS

    api = FastAPI(title="Lyrebird", docs_url=None, redoc_url=None, openapi_url=None)

    @api.get(AUDIO_ROUTE + "/{track_id}")
    def track_audio(track_id: int) -> FileResponse:
        path = service.track_file(track_id)
        if path is None:
            raise HTTPException(404, f"no playable track with id {track_id}")
        media = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        return FileResponse(path, media_type=media)

    blocks = build_blocks(service, examples)
    blocks.queue(default_concurrency_limit=config.concurrency, max_size=config.queue_size)
    app = gr.mount_gradio_app(api, blocks, path="/", allowed_paths=[],
                              max_file_size=f"{config.max_upload_mb}mb", ssr_mode=False,
                              footer_links=[], theme=theme(), css=CSS, show_error=True)
    if config.auth:
        return BasicAuth(app, *config.auth)
    return app


class Server:
    """A uvicorn server on a background thread (tests, benchmarks, ``lyrebird demo``)."""

    def __init__(self, app, host: str = "127.0.0.1", port: int = 7860):
        import uvicorn

        self._server = uvicorn.Server(uvicorn.Config(app, host=host, port=port,
                                                     log_level="warning", lifespan="on"))
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


def serve(service: LibraryService, config: ServeConfig = ServeConfig(),
          examples: list[str] | None = None) -> None:
    """Serve until interrupted (blocking)."""
    import uvicorn

    uvicorn.run(make_app(service, config, examples), host=config.host, port=config.port,
                log_level="warning")
