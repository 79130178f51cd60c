"""Load on a running app: N concurrent clients searching for T seconds over HTTP.

Each client is a thread with its own HTTP connection that calls the app's ``search`` endpoint
the way Gradio's own client does (``POST /gradio_api/call/search``, then read the event stream
until ``complete``) in a closed loop, with a new query each time so that no cache answers.
"""

from __future__ import annotations

import itertools
import os
import random
import threading
import time
from dataclasses import asdict, dataclass, field

import numpy as np

_MOODS = ["calm", "fast", "dark", "happy", "melancholic", "loud", "soft", "slow", "bright", "sad"]
_WHAT = ["piano", "drum groove", "string quartet", "choir", "tin whistle", "rock band",
         "electronic beat", "harpsichord", "ambient pad", "acoustic guitar", "brass", "organ"]


def queries(n: int = 1000, seed: int = 0) -> list[str]:
    """``n`` distinct-ish text queries ("calm piano in a minor key", …), shuffled."""
    base = [f"{m} {w}" for m, w in itertools.product(_MOODS, _WHAT)]
    extra = ["", " in a minor key", " in a major key", " solo", " with vocals"]
    pool = [b + e for b, e in itertools.product(base, extra)]
    random.Random(seed).shuffle(pool)
    return (pool * (n // len(pool) + 1))[:n]


@dataclass
class LoadReport:
    """Requests, errors (with up to 5 examples), and latency percentiles in milliseconds."""

    url: str
    clients: int
    seconds: float
    requests: int = 0
    errors: int = 0
    error_examples: list[str] = field(default_factory=list)
    p50_ms: float = float("nan")
    p99_ms: float = float("nan")
    max_ms: float = float("nan")
    throughput_rps: float = 0.0

    def to_dict(self) -> dict:
        return asdict(self)


def _one_search(client, url: str, q: str, k: int, timeout_s: float) -> None:
    r = client.post(f"{url}gradio_api/call/search", json={"data": [q, k]}, timeout=timeout_s)
    r.raise_for_status()
    eid = r.json()["event_id"]
    event = None
    with client.stream("GET", f"{url}gradio_api/call/search/{eid}", timeout=timeout_s) as s:
        s.raise_for_status()
        for line in s.iter_lines():
            if line.startswith("event:"):
                event = line.split(":", 1)[1].strip()
            elif line.startswith("data:") and event in ("complete", "error"):
                if event == "error":
                    raise RuntimeError(f"app error: {line[5:].strip()[:200]}")
                if "results for" not in line:
                    raise RuntimeError(f"unexpected answer: {line[5:].strip()[:200]}")
                return
    raise RuntimeError(f"stream ended without a result (last event {event!r})")


def run_load(url: str, clients: int = 20, seconds: float = 30.0, k: int = 10,
             auth: tuple[str, str] | None = None, timeout_s: float = 60.0) -> LoadReport:
    """Run ``clients`` closed-loop clients against ``url`` for ``seconds``; latencies in ms."""
    import httpx

    url = url if url.endswith("/") else url + "/"
    qs = queries(max(1000, clients * 50))
    lat: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    stop_at = time.monotonic() + seconds

    def worker(i: int) -> None:
        with httpx.Client(auth=auth) as client:
            j = i
            while time.monotonic() < stop_at:
                q = qs[j % len(qs)]
                j += clients
                t0 = time.perf_counter()
                try:
                    _one_search(client, url, q, k, timeout_s)
                    with lock:
                        lat.append((time.perf_counter() - t0) * 1000)
                except Exception as e:  # every failure counts, whatever its kind
                    with lock:
                        errors.append(f"{type(e).__name__}: {e}"[:300])

    t0 = time.monotonic()
    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.monotonic() - t0
    rep = LoadReport(url, clients, round(wall, 2), requests=len(lat) + len(errors),
                     errors=len(errors), error_examples=errors[:5])
    if lat:
        a = np.asarray(lat)
        rep.p50_ms, rep.p99_ms = float(np.percentile(a, 50)), float(np.percentile(a, 99))
        rep.max_ms, rep.throughput_rps = float(a.max()), len(lat) / wall
    return rep


def bench_serve(url: str | None = None, library: str | os.PathLike | None = None,
                clients: int = 20, seconds: float = 30.0, k: int = 10,
                auth: tuple[str, str] | None = None) -> LoadReport:
    """:func:`run_load` against ``url``, or against a server started for the time of the run
    on ``library`` on a free loopback port. Give exactly one of the two (``ValueError``)."""
    if bool(url) == bool(library):
        raise ValueError("give either the URL of a running app or a library")
    server = None
    if library:
        from lyrebird.ui import LibraryService, ServeConfig, Server, make_app

        server = Server(make_app(LibraryService(library), ServeConfig(auth=auth)), port=0).start()
        url = server.url
    try:
        return run_load(url, clients, seconds, k, auth=auth)
    finally:
        if server:
            server.stop()


def format_report(rep: LoadReport) -> str:
    """One paragraph: requests, errors (with examples), latency percentiles, throughput."""
    d = rep.to_dict()
    human = (f"{d['clients']} clients × {d['seconds']:.0f} s against {d['url']}: "
             f"{d['requests']} requests, {d['errors']} errors, p50 {d['p50_ms']:.0f} ms, "
             f"p99 {d['p99_ms']:.0f} ms, max {d['max_ms']:.0f} ms, "
             f"{d['throughput_rps']:.1f} req/s")
    if d["error_examples"]:
        human += "\nerrors, e.g.:\n  " + "\n  ".join(d["error_examples"])
    return human
