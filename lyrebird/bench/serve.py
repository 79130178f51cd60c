"""Load on a running server: N concurrent clients searching for T seconds over HTTP.

Each client is a thread with its own HTTP connection, in a closed loop. Against the app
(``target="app"``) it calls the ``search`` endpoint the way Gradio's own client does
(``POST /gradio_api/call/search``, then read the event stream until ``complete``); against the
JSON API (``target="api"``) it calls ``GET /api/search?q=&k=``. Queries cycle through a pool
of 300 phrasings (so after the first round the server's text-vector cache answers, as it does
for real users repeating common queries); ``distinct=True`` makes every query new, so each one
goes through the text tower.

With ``library``, the server runs in its own process (``lyrebird serve``) so that the clients'
threads do not share its interpreter lock.
"""

from __future__ import annotations

import itertools
import os
import random
import socket
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass, field

import numpy as np

_MOODS = ["calm", "fast", "dark", "happy", "melancholic", "loud", "soft", "slow", "bright", "sad"]
_WHAT = ["piano", "drum groove", "string quartet", "choir", "tin whistle", "rock band",
         "electronic beat", "harpsichord", "ambient pad", "acoustic guitar", "brass", "organ"]


def queries(n: int = 1000, seed: int = 0, distinct: bool = False) -> list[str]:
    """``n`` text queries ("calm piano in a minor key", …) from a pool of 300, shuffled;
    ``distinct``: each one made unique (a number appended)."""
    base = [f"{m} {w}" for m, w in itertools.product(_MOODS, _WHAT)]
    extra = ["", " in a minor key", " in a major key", " solo", " with vocals"]
    pool = [b + e for b, e in itertools.product(base, extra)]
    random.Random(seed).shuffle(pool)
    out = (pool * (n // len(pool) + 1))[:n]
    return [f"{q} {i}" for i, q in enumerate(out)] if distinct else out


SESSIONS = ("client", "request")


@dataclass
class LoadReport:
    """Requests, errors (with up to 5 examples), and latency percentiles in milliseconds."""

    url: str
    clients: int
    seconds: float
    target: str = "app"
    sessions: str = "client"
    requests: int = 0
    errors: int = 0
    error_examples: list[str] = field(default_factory=list)
    p50_ms: float = float("nan")
    p99_ms: float = float("nan")
    max_ms: float = float("nan")
    throughput_rps: float = 0.0

    def to_dict(self) -> dict:
        return asdict(self)


def _one_search(client, url: str, q: str, k: int, timeout_s: float,
                session: str | None = None) -> None:
    body = {"data": [q, k]} | ({"session_hash": session} if session else {})
    r = client.post(f"{url}gradio_api/call/search", json=body, timeout=timeout_s)
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


def _one_api_search(client, url: str, q: str, k: int, timeout_s: float,
                    session: str | None = None) -> None:
    r = client.get(f"{url}api/search", params={"q": q, "k": k}, timeout=timeout_s)
    if r.status_code != 200:
        raise RuntimeError(f"HTTP {r.status_code}: {r.text[:200]}")
    if len(r.json()["hits"]) == 0:
        raise RuntimeError("no hits")


def run_load(url: str, clients: int = 20, seconds: float = 30.0, k: int = 10,
             auth: tuple[str, str] | None = None, timeout_s: float = 60.0,
             target: str = "app", distinct: bool = False,
             sessions: str = "client") -> LoadReport:
    """Run ``clients`` closed-loop clients against ``url`` for ``seconds``; latencies in ms.

    ``sessions`` (the app only): ``"client"``, each client keeps one Gradio session, as a
    browser tab or ``gradio_client.Client`` does; ``"request"``, every call opens a new one, as
    ``curl`` against ``/gradio_api/call/`` does (Gradio builds each new session's state from
    every block of the app, so this costs the server more)."""
    import httpx

    if target not in ("app", "api"):
        raise ValueError(f"target must be 'app' or 'api', got {target!r}")
    if sessions not in SESSIONS:
        raise ValueError(f"sessions must be one of {SESSIONS}, got {sessions!r}")
    one = _one_search if target == "app" else _one_api_search
    url = url if url.endswith("/") else url + "/"
    qs = queries(max(1000, clients * 50, int(seconds * 400)), distinct=distinct)
    lat: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    stop_at = time.monotonic() + seconds

    def worker(i: int) -> None:
        session = f"lyrebird-bench-{os.getpid()}-{i}" if sessions == "client" else None
        with httpx.Client(auth=auth) as client:
            j = i
            while time.monotonic() < stop_at:
                q = qs[j % len(qs)]
                j += clients
                t0 = time.perf_counter()
                try:
                    one(client, url, q, k, timeout_s, session)
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
    rep = LoadReport(url, clients, round(wall, 2), target, sessions if target == "app" else "-",
                     requests=len(lat) + len(errors),
                     errors=len(errors), error_examples=errors[:5])
    if lat:
        a = np.asarray(lat)
        rep.p50_ms, rep.p99_ms = float(np.percentile(a, 50)), float(np.percentile(a, 99))
        rep.max_ms, rep.throughput_rps = float(a.max()), len(lat) / wall
    return rep


def bench_serve(url: str | None = None, library: str | os.PathLike | None = None,
                clients: int = 20, seconds: float = 30.0, k: int = 10,
                auth: tuple[str, str] | None = None, targets: tuple[str, ...] = ("app",),
                distinct: bool = False, sessions: str = "client") -> list[LoadReport]:
    """:func:`run_load` for each of ``targets`` against ``url``, or against a server started
    for the time of the run on ``library`` (its own process, a free loopback port). Give
    exactly one of the two (``ValueError``)."""
    if bool(url) == bool(library):
        raise ValueError("give either the URL of a running app or a library")
    proc = None
    if library:
        proc, url = _start_server(library, auth)
    try:
        return [run_load(url, clients, seconds, k, auth=auth, target=t, distinct=distinct,
                         sessions=sessions) for t in targets]
    finally:
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()


def _start_server(library, auth, timeout_s: float = 180.0):
    """``lyrebird serve LIBRARY`` on a free loopback port in a child process; waits until
    ``/api/info`` answers. Returns ``(process, url)``."""
    import httpx

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cmd = [sys.executable, "-m", "lyrebird", "serve", str(library), "--port", str(port)]
    if auth:
        cmd += ["--auth", ":".join(auth)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}/"
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout_s:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited: {proc.stderr.read()[-2000:]}")
        try:
            if httpx.get(url + "api/info", auth=auth, timeout=5).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    proc.kill()
    raise RuntimeError(f"the server did not answer on {url} within {timeout_s:.0f} s")


def format_report(rep: LoadReport) -> str:
    """One paragraph: requests, errors (with examples), latency percentiles, throughput."""
    d = rep.to_dict()
    who = f"{d['clients']} clients" + (f" (a session per {d['sessions']})"
                                       if d["target"] == "app" else "")
    human = (f"{d['target']}: {who} × {d['seconds']:.0f} s against {d['url']}: "
             f"{d['requests']} requests, {d['errors']} errors, p50 {d['p50_ms']:.0f} ms, "
             f"p99 {d['p99_ms']:.0f} ms, max {d['max_ms']:.0f} ms, "
             f"{d['throughput_rps']:.1f} req/s")
    if d["error_examples"]:
        human += "\nerrors, e.g.:\n  " + "\n  ".join(d["error_examples"])
    return human
