"""How the app is served and what it accepts (a light module: no gradio, no library).

:class:`Limits` is the one home of the upload limits: the service checks files against it and
the server refuses larger uploads with the same number. The CLI reads its option defaults here.
"""

from __future__ import annotations

from dataclasses import dataclass

from lyrebird.mulan.runtimes import DEFAULT_RUNTIME, RUNTIMES

MIB = 2**20


MAX_TRACK_ID = 2**63 - 1  # SQLite's largest integer key


@dataclass(frozen=True)
class Limits:
    """What one request may ask: upload size in bytes and audio duration in seconds, the
    number of results ``k``, tags per tagging request and their length, a text query's
    length (characters). Requests beyond them get a message (HTTP 400 from the API)."""

    max_upload_bytes: int = 50 * MIB
    max_upload_s: float = 600.0
    max_k: int = 100
    max_tags: int = 100
    max_tag_chars: int = 100
    max_query_chars: int = 500


@dataclass(frozen=True)
class ServeConfig:
    """How to serve: address, optional ``(user, password)``, queue bounds, and the runtime of
    the model's towers (:mod:`lyrebird.mulan.runtimes`: ``torch``, ``onnx``, ``onnx-int8``)."""

    host: str = "127.0.0.1"
    port: int = 7860  # 0: any free port
    auth: tuple[str, str] | None = None
    # handlers running at once; the rest wait in the queue. 8: concurrent searches share one
    # text-tower batch (index.caches.TextBatcher), so 20 clients on 2 busy cores got 1.6x the
    # requests/s of 2 and a 25% lower p99 (16: no better); measured in docs/scaling.md
    concurrency: int = 8
    queue_size: int = 512       # waiting requests beyond this are refused with a message
    # seconds between the queue's position/ETA messages to waiting users; Gradio's default
    # ("auto") sends every waiting user one at each dispatch: 7-13% fewer requests/s at 20
    # clients (docs/benchmarks.md). None: Gradio's default.
    queue_update_s: float | None = 1.0
    runtime: str = DEFAULT_RUNTIME  # PyTorch; why: lyrebird.mulan.runtimes

    def __post_init__(self) -> None:
        if self.queue_update_s is not None and not self.queue_update_s > 0:
            raise ValueError(f"queue_update_s={self.queue_update_s!r}: expected seconds > 0 or None")
        if self.runtime not in RUNTIMES:
            raise ValueError(f"runtime {self.runtime!r}: expected one of {', '.join(RUNTIMES)}")

    @property
    def loopback(self) -> bool:
        """Whether only this machine can reach the server."""
        return self.host in ("127.0.0.1", "localhost", "::1")


def parse_auth(spec: str | None) -> tuple[str, str] | None:
    """``"user:pass"`` → ``("user", "pass")``; raises ``ValueError`` naming the expected form."""
    if not spec:
        return None
    user, sep, pw = spec.partition(":")
    if not sep or not user or not pw:
        raise ValueError(f"--auth {spec!r}: expected 'user:password'")
    return user, pw
