"""``lyrebird bench index``: ingestion speed, text-query latency, recall and memory per track.

* ingestion: audio hours embedded and committed per wall-clock hour with a given model, on
  generated tracks;
* query latency p50/p99 = text tower (uncached query strings) + FAISS search + SQLite-free
  ranking, on synthetic clustered vectors standing in for libraries of 10k, 100k and 1M tracks;
  1,000 queries per run, three runs after a warm-up, p99 of each run printed (its spread);
* recall@10 of the chosen approximate index against exact search on the same vectors;
* memory per track of the chosen index.
"""

from __future__ import annotations

import gc
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import soundfile as sf

from lyrebird.index.vectors import (
    IndexPolicy,
    build_index,
    bytes_per_vector,
    exact_topk,
    recall_at_k,
    search_rerank,
    single_thread,
)

SEGMENTS_PER_TRACK = (240 - 10) / 10 + 1
"""Segment vectors of a 4-minute track at 10 s windows / 10 s hop (memory per track)."""


def clustered(n: int, dim: int, seed: int = 0) -> np.ndarray:
    """``(n, dim)`` unit vectors around ``sqrt(n)`` centres (music libraries are clustered)."""
    rng = np.random.default_rng(seed)
    k = max(8, int(np.sqrt(n)))
    centres = rng.standard_normal((k, dim)).astype(np.float32)
    x = centres[rng.integers(0, k, n)] + 0.6 * rng.standard_normal((n, dim)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x


def bench_ingest(model_spec: str, tracks: int = 8, seconds: float = 60.0) -> dict:
    """Add ``tracks`` generated tracks of ``seconds`` each; audio hours per wall hour."""
    from lyrebird.index import Library

    with tempfile.TemporaryDirectory() as d:
        music = Path(d) / "music"
        music.mkdir()
        sr = 22050
        t = np.arange(int(sr * seconds)) / sr
        for i in range(tracks):
            f0 = 110 * 2 ** (i / 5)
            x = sum(0.2 / k * np.sin(2 * np.pi * f0 * k * t) for k in range(1, 5))
            sf.write(music / f"t{i}.flac", (0.5 * x).astype(np.float32), sr)
        lib = Library.create(Path(d) / "lib", model_spec)
        t0 = time.perf_counter()
        rep = lib.add([music])
        dt = time.perf_counter() - t0
        lib.close()
    hours = len(rep.added) * seconds / 3600
    return {"model": model_spec, "tracks": len(rep.added), "wall_s": dt,
            "audio_hours_per_wall_hour": hours / (dt / 3600)}


def bench_queries(sizes: tuple[int, ...] = (10_000, 100_000, 1_000_000), dim: int = 512,
                  queries: int = 1000, text_model: str | None = None, runs: int = 3,
                  warmup: int = 100) -> list[dict]:
    """Per library size: index kind, build time, recall@10, and per run of ``queries`` single
    queries (text tower + search) p50/p99 latency, with their spread over ``runs`` runs.

    Timing conditions, each a cause of tail latency on a shared 2-core machine (README): the
    ``warmup`` queries first touch the index's pages and the text tower's buffers; the garbage
    collector is frozen and off during a run; FAISS and torch use one thread each (a thread
    team waiting for a partner descheduled by another process is what made p99 jump).
    """
    embed = None
    if text_model:
        from lyrebird.index.model import load_model

        m = load_model(text_model)
        if m.has_text and m.DIM == dim:
            embed = m.embed_text
    rows = []
    for n in sizes:
        x = clustered(n, dim)
        ids = np.arange(1, n + 1)
        t0 = time.perf_counter()
        index, info = build_index(ids, x, dim, IndexPolicy())
        build_s = time.perf_counter() - t0
        rng = np.random.default_rng(1)
        q = x[rng.choice(n, queries + warmup, replace=False)] + 0.1 * rng.standard_normal(
            (queries + warmup, dim)).astype(np.float32)
        q /= np.linalg.norm(q, axis=1, keepdims=True)
        exact = ids[exact_topk(x, q[warmup:], 10)]
        per_run, search_ms, got = [], [], []
        with quiet_timing():
            _timed_queries(index, info, x, q[:warmup], embed, "warm-up")
            for r in range(runs):
                got, lat, search = _timed_queries(index, info, x, q[warmup:], embed, f"run {r}")
                per_run.append(np.array(lat) * 1e3)
                search_ms.append(np.array(search) * 1e3)
        p50 = [float(np.percentile(a, 50)) for a in per_run]
        p99 = [float(np.percentile(a, 99)) for a in per_run]
        rows.append({"tracks": n, "kind": info["kind"], "build_s": build_s,
                     "recall_at_10": recall_at_k(np.array(got), exact),
                     "queries": queries, "runs": runs,
                     "p50_ms": float(np.median(p50)), "p99_ms": float(np.median(p99)),
                     "p50_ms_runs": p50, "p99_ms_runs": p99,
                     "max_ms": float(max(a.max() for a in per_run)),
                     "search_p99_ms_runs": [float(np.percentile(a, 99)) for a in search_ms],
                     "includes_text_tower": embed is not None,
                     "bytes_per_vector": bytes_per_vector(info["kind"], dim),
                     "params": {k: v for k, v in info.items() if k in ("nlist", "nprobe", "efSearch")}})
        del x, index
    return rows


@contextmanager
def quiet_timing():
    """One FAISS and one torch thread, and no garbage collection, for the block."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    gc.collect()
    gc.freeze()  # objects alive now are never scanned again
    gc.disable()
    try:
        with single_thread():
            yield
    finally:
        gc.enable()
        gc.unfreeze()
        torch.set_num_threads(threads)


def _timed_queries(index, info: dict, x: np.ndarray, q: np.ndarray, embed,
                   tag: str = "") -> tuple[list, list, list]:
    """Run each query alone (text tower + search); returns ``(top-10 ids, seconds, seconds of
    the search alone)``."""
    lat, search, got = [], [], []
    for i in range(len(q)):
        t0 = time.perf_counter()
        if embed is not None:
            embed([f"query number {i} {tag} about music"])  # a new string: no cache hit
        t1 = time.perf_counter()
        qi = q[i : i + 1]
        if info["kind"] == "ivfpq":
            _, r = search_rerank(index, qi, 10, lambda r, x=x: x[r - 1])
        else:
            _, r = index.search(qi, 10)
        t2 = time.perf_counter()
        lat.append(t2 - t0)
        search.append(t2 - t1)
        got.append(r[0])
    return got, lat, search


def bench_index(model: str | None = "default",
                sizes: tuple[int, ...] = (10_000, 100_000, 1_000_000),
                queries: int = 1000, runs: int = 3) -> dict:
    """Ingestion with ``model`` (skipped when ``None``) and the query benchmark with its text
    tower on libraries of ``sizes`` tracks → ``{"ingest": ..., "queries": [...]}``."""
    ingest = bench_ingest(model) if model else None
    return {"ingest": ingest,
            "queries": bench_queries(tuple(sizes), queries=queries, text_model=model, runs=runs)}


def format_report(ingest: dict | None, rows: list[dict],
                  segments_per_track: float = SEGMENTS_PER_TRACK) -> str:
    """Human-readable table of :func:`bench_ingest` and :func:`bench_queries`."""
    lines = []
    if ingest:
        lines.append(f"ingestion ({ingest['model']}): {ingest['audio_hours_per_wall_hour']:.0f} audio "
                     f"hours per wall hour ({ingest['tracks']} tracks in {ingest['wall_s']:.1f} s)")
    lines.append(f"{'tracks':>9s} {'index':>6s} {'build s':>8s} {'recall@10':>9s} {'p50 ms':>7s} "
                 f"{'p99 ms':>7s} {'p99 per run':>32s} {'max ms':>7s} {'text tower':>10s} "
                 f"{'bytes/track':>11s}")
    for r in rows:
        per_track = r["bytes_per_vector"] * (1 + segments_per_track)
        spread = "/".join(f"{v:.1f}" for v in r["p99_ms_runs"])
        if "search_p99_ms_runs" in r:
            spread += " (search " + "/".join(f"{v:.1f}" for v in r["search_p99_ms_runs"]) + ")"
        lines.append(f"{r['tracks']:9d} {r['kind']:>6s} {r['build_s']:8.1f} {r['recall_at_10']:9.3f} "
                     f"{r['p50_ms']:7.2f} {r['p99_ms']:7.2f} {spread:>32s} {r['max_ms']:7.1f} "
                     f"{'yes' if r['includes_text_tower'] else 'no':>10s} {per_track:11.0f}")
    if rows:
        lines.append(f"({rows[0]['queries']} queries per run, {rows[0]['runs']} runs after a "
                     "warm-up; p99 = median over runs, then each run's p99)")
    lines.append(f"(bytes/track = one track vector + {segments_per_track:.0f} segment vectors, "
                 "a 4-minute track at 10 s windows / 10 s hop)")
    return "\n".join(lines)
