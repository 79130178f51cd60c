"""What the server lets in: ASGI middleware in front of the app (:func:`lyrebird.ui.make_app`).

- :class:`RequestLimits`: a request line longer than ``max_url_bytes`` gets HTTP 414 and
  headers larger than ``max_header_bytes`` get 431, instead of a reset connection.
- :class:`BasicAuth`: HTTP Basic authentication on every route, with failed logins slowed per
  client: after ``free_failures`` wrong passwords a client gets 429 (``Retry-After``) for a
  doubling time (capped). The decision depends on the client only, never on the password, and
  the password comparison is constant-time, so timing tells nothing about the password.
- :class:`UploadGuard`: a Gradio call may name files only by the paths Gradio's own upload
  route gave out (``Blocks.upload_file_set``). Any other path in a request body (a file on
  the server, absolute or relative, a URL to fetch) is refused with 403 before Gradio copies
  it into its cache, so nothing outside the library and the request's own uploads is read.
  Gradio's file route (``/gradio_api/file=…``) serves only files this app itself holds (its
  uploads and the files its handlers returned, ``Blocks.temp_file_sets``), not whatever else
  lies in the shared Gradio temp folder.
"""

from __future__ import annotations

import base64
import hmac
import json
import os
import threading
import time
import urllib.parse
from collections import OrderedDict
from collections.abc import Iterator

GRADIO_PREFIX = "/gradio_api/"
UPLOAD_ROUTE = GRADIO_PREFIX + "upload"
FILE_ROUTE = GRADIO_PREFIX + "file="
MAX_CALL_BYTES = 1 << 20  # a Gradio call's JSON body; ours carry a query and a few numbers


async def _answer(send, status: int, body: dict | str, headers: list | None = None) -> None:
    data = (json.dumps(body) if isinstance(body, dict) else body).encode()
    ctype = b"application/json" if isinstance(body, dict) else b"text/plain; charset=utf-8"
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", ctype),
                            (b"content-length", str(len(data)).encode()), *(headers or [])]})
    await send({"type": "http.response.body", "body": data})


class RequestLimits:
    """414 for a request line (path + query) over ``max_url_bytes``, 431 for headers over
    ``max_header_bytes`` (bytes, as received)."""

    def __init__(self, app, max_url_bytes: int = 8192, max_header_bytes: int = 32768):
        self.app, self.max_url, self.max_headers = app, max_url_bytes, max_header_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] in ("http", "websocket"):
            url = len(scope.get("raw_path") or b"") + len(scope.get("query_string") or b"")
            heads = sum(len(k) + len(v) for k, v in scope.get("headers", []))
            status = 414 if url > self.max_url else 431 if heads > self.max_headers else 0
            if status:
                if scope["type"] == "websocket":
                    await send({"type": "websocket.close", "code": 1009})
                    return
                what = (f"the URL is {url:,} bytes; the limit is {self.max_url:,}" if status == 414
                        else f"the headers are {heads:,} bytes; the limit is {self.max_headers:,}")
                await _answer(send, status, {"error": what})
                return
        await self.app(scope, receive, send)


class LoginThrottle:
    """Failed-login bookkeeping per client (thread-safe, bounded to ``max_clients``)."""

    def __init__(self, free_failures: int = 5, base_s: float = 1.0, max_s: float = 300.0,
                 max_clients: int = 10_000):
        self.free, self.base, self.max_s, self.max_clients = free_failures, base_s, max_s, max_clients
        self._fails: OrderedDict[str, tuple[int, float]] = OrderedDict()  # client → (n, until)
        self._lock = threading.Lock()

    def wait_s(self, client: str, now: float | None = None) -> float:
        """Seconds ``client`` must still wait before its next try (0: may try now)."""
        now = time.monotonic() if now is None else now
        with self._lock:
            until = self._fails.get(client, (0, 0.0))[1]
        return max(0.0, until - now)

    def failed(self, client: str, now: float | None = None) -> None:
        """Record a wrong password: past ``free_failures``, each failure doubles the wait."""
        now = time.monotonic() if now is None else now
        with self._lock:
            n = self._fails.pop(client, (0, 0.0))[0] + 1
            wait = 0.0 if n <= self.free else min(self.max_s, self.base * 2 ** (n - self.free - 1))
            self._fails[client] = (n, now + wait)
            while len(self._fails) > self.max_clients:
                self._fails.popitem(last=False)

    def succeeded(self, client: str) -> None:
        with self._lock:
            self._fails.pop(client, None)


class BasicAuth:
    """ASGI middleware: every HTTP and websocket request needs ``user:password``; failed
    logins are throttled per client address (:class:`LoginThrottle`)."""

    def __init__(self, app, user: str, password: str, throttle: LoginThrottle | None = None):
        self.app = app
        self._token = base64.b64encode(f"{user}:{password}".encode()).decode().encode()
        self.throttle = throttle or LoginThrottle()

    async def __call__(self, scope, receive, send):
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        client = (scope.get("client") or ("?", 0))[0]
        wait = self.throttle.wait_s(client)
        if wait > 0:
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 1008})
                return
            await _answer(send, 429, {"error": f"too many failed logins; retry in {wait:.0f} s"},
                          [(b"retry-after", str(max(1, round(wait))).encode())])
            return
        auth = dict(scope.get("headers", [])).get(b"authorization", b"")
        given = auth[6:] if auth.startswith(b"Basic ") else b""
        if not hmac.compare_digest(given, self._token):
            if given:  # a wrong password, not a browser asking for the challenge
                self.throttle.failed(client)
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 1008})
                return
            await _answer(send, 401, "authentication required",
                          [(b"www-authenticate", b'Basic realm="Lyrebird"')])
            return
        self.throttle.succeeded(client)
        await self.app(scope, receive, send)


def file_values(obj) -> Iterator[tuple[str, str]]:
    """Every ``("path" | "url", value)`` inside dicts of a JSON value (Gradio's ``FileData``),
    at any depth; a non-string ``path`` is yielded as ``""`` (refused)."""
    if isinstance(obj, dict):
        for key in ("path", "url"):
            if key in obj and obj[key] is not None:
                yield key, obj[key] if isinstance(obj[key], str) else ""
        for v in obj.values():
            yield from file_values(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from file_values(v)


class UploadGuard:
    """Refuses (403) a Gradio call whose body names a file that Gradio's upload route did not
    produce, and a file download of anything this app does not hold; ``blocks`` is the
    mounted ``gr.Blocks`` (its ``upload_file_set`` and ``temp_file_sets``)."""

    def __init__(self, app, blocks):
        self.app, self.blocks = app, blocks

    @staticmethod
    def _within(value: str, files) -> bool:
        real = os.path.realpath(value)
        return any(real == os.path.realpath(p) for p in list(files))

    def _uploaded(self, value: str, key: str) -> bool:
        if key == "url":  # the browser sends its upload's own file URL beside the path
            if FILE_ROUTE not in value:
                return False
            value = urllib.parse.unquote(value.split(FILE_ROUTE, 1)[1])
        return "://" not in value and self._within(value, self.blocks.upload_file_set)

    def _held(self, value: str) -> bool:
        files = [p for s in list(self.blocks.temp_file_sets) for p in list(s)]
        return self._within(value, files)

    async def __call__(self, scope, receive, send):
        path = scope.get("path", "")
        if scope["type"] != "http" or not path.startswith(GRADIO_PREFIX):
            return await self.app(scope, receive, send)
        if path.startswith(FILE_ROUTE):
            if not self._held(urllib.parse.unquote(path[len(FILE_ROUTE):])):
                await _answer(send, 403, {"error": "no such file in this app"})
                return
            return await self.app(scope, receive, send)
        if scope.get("method") != "POST" or path.startswith(UPLOAD_ROUTE):
            return await self.app(scope, receive, send)
        body, more = bytearray(), True
        while more:
            msg = await receive()
            if msg["type"] == "http.disconnect":
                return
            body += msg.get("body", b"")
            more = msg.get("more_body", False)
            if len(body) > MAX_CALL_BYTES:
                await _answer(send, 413, {"error": "request body too large"})
                return
        try:
            value = json.loads(body) if body.strip() else None
        except ValueError:
            value = None  # not JSON: Gradio answers it (a 4xx); no file can hide in it
        if any(not self._uploaded(v, key) for key, v in file_values(value)):
            await _answer(send, 403, {"error": "only files uploaded to this server can be "
                                               "used; upload the audio first"})
            return
        sent = False

        async def replay():
            nonlocal sent
            if sent:
                return await receive()
            sent = True
            return {"type": "http.request", "body": bytes(body), "more_body": False}

        await self.app(scope, replay, send)
