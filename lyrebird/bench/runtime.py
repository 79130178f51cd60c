"""``lyrebird bench runtime``: MuLan on PyTorch against onnxruntime fp32 and int8, one run.

For each runtime, in a fresh subprocess (so peak memory does not mix):

* text-query latency: one query per call (what a search box sends), p50 and p99 over
  ``repeats`` passes of distinct queries (no cache);
* audio embedding throughput: 10 s windows in batches of 8, as seconds of audio per second
  (× real time);
* peak resident memory of the process (``VmHWM``: model, runtime and work);
* quality: cosine of its text and audio vectors to PyTorch fp32 (the Hugging Face module, no
  bf16) on the same texts and clips — the ONNX export is traced from that module.

Runtimes: ``pytorch`` (``MuLan.embed_text``: Lyrebird's lean path, bf16 where the CPU has it),
``pytorch-fp32`` (lean path forced to fp32), ``onnx`` (fp32 graphs), ``onnx-int8`` (int8
dynamic quantisation of both graphs). The ONNX folder comes from ``lyrebird export onnx
--int8`` (made on the fly into a temporary folder when none is given).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

RUNTIMES = ("pytorch", "pytorch-fp32", "onnx", "onnx-int8")
QUERIES = [f"{a} {b}" for a in ("calm", "fast", "sad", "loud", "dreamy", "dark", "happy",
                                   "slow", "energetic", "quiet")
           for b in ("piano piece", "rock song with guitars", "techno track",
                     "string quartet", "jazz with saxophone")]


def _clips(sr: int, window_s: float, n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(sr * window_s)) / sr
    out = [0.2 * np.sin(2 * np.pi * (110 * (i + 1)) * t) + 0.05 * rng.standard_normal(len(t))
           for i in range(n)]
    return np.stack(out).astype(np.float32)


def _pct(xs: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(xs) * 1000.0, q))


def worker(runtime: str, model: str, onnx_dir: str, repeats: int, windows: int,
           threads: int, out_npz: str) -> dict:
    """One runtime in this process: timings, peak memory, and its vectors (saved)."""
    import torch

    from lyrebird.bench.myna import peak_rss_kib

    if threads:
        torch.set_num_threads(threads)
    t0 = time.perf_counter()
    if runtime.startswith("pytorch"):
        from lyrebird.mulan import MuLan

        m = MuLan.load(model)
        if runtime == "pytorch-fp32":
            m.text.backbone.lean = "float32"
        text_fn = m.embed_text
        sr, win_s = m.audio.sample_rate, m.cfg.audio.window_s
        audio_fn = m.embed_windows
    else:
        from lyrebird.mulan.onnx_runtime import OnnxMuLan

        m = OnnxMuLan(onnx_dir, int8="all" if runtime == "onnx-int8" else "none",
                      threads=threads)
        m.session("text"), m.session("audio")  # sessions are lazy: count them in load_s
        text_fn, audio_fn = m.embed_text, m.embed_windows
        sr, win_s = m.SAMPLE_RATE, float(m.manifest["window_s"])
    load_s = time.perf_counter() - t0
    clips = _clips(sr, win_s, windows)
    valid = np.full(len(clips), clips.shape[1])
    text_fn(QUERIES[:2])  # warm-up
    audio_fn(clips[:1], valid[:1])
    lat = []
    for _ in range(repeats):
        for q in QUERIES:
            t = time.perf_counter()
            text_fn([q])
            lat.append(time.perf_counter() - t)
    t = time.perf_counter()
    va = np.asarray(audio_fn(clips, valid), np.float32)
    audio_s = time.perf_counter() - t
    vt = np.asarray(text_fn(QUERIES), np.float32)
    if runtime == "pytorch":  # the fp32 reference, Hugging Face module
        m.text.backbone.lean = None
        np.savez(out_npz + ".ref.npz", text=np.asarray(m.embed_text(QUERIES), np.float32),
                 audio=va)
    np.savez(out_npz, text=vt, audio=va)
    return {"runtime": runtime, "load_s": load_s, "text_p50_ms": _pct(lat, 50),
            "text_p99_ms": _pct(lat, 99), "text_queries": len(lat),
            "audio_x_realtime": len(clips) * win_s / audio_s, "audio_windows": len(clips),
            "peak_rss_mib": peak_rss_kib() / 1024}


def bench_runtime(model: str = "default", onnx_dir: str | None = None, repeats: int = 3,
                  windows: int = 16, threads: int = 0,
                  runtimes: tuple[str, ...] = RUNTIMES) -> dict:
    """Run every runtime in its own subprocess; returns a JSON-ready report."""
    with tempfile.TemporaryDirectory(prefix="lyrebird-bench-rt-") as tmp:
        if onnx_dir is None:
            from lyrebird.mulan.exports import export_onnx_spec

            onnx_dir = str(Path(tmp) / "onnx")
            export_onnx_spec(model, onnx_dir, int8=True)
        rows = []
        for rt in runtimes:
            npz = str(Path(tmp) / f"{rt}.npz")
            code = ("import json; from lyrebird.bench.runtime import worker; "
                    f"print(json.dumps(worker({rt!r}, {model!r}, {onnx_dir!r}, {repeats}, "
                    f"{windows}, {threads}, {npz!r})))")
            res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
            if res.returncode:
                raise RuntimeError(f"bench runtime {rt}: {res.stderr.strip()[-2000:]}")
            rows.append(json.loads(res.stdout.strip().splitlines()[-1]))
        ref_path = Path(tmp) / "pytorch.npz.ref.npz"
        if ref_path.is_file():
            ref = np.load(ref_path)
            for row in rows:
                got = np.load(Path(tmp) / f"{row['runtime']}.npz")
                for k in ("text", "audio"):
                    row[f"{k}_cos_min"] = float((ref[k] * got[k]).sum(1).min())
                    row[f"{k}_cos_mean"] = float((ref[k] * got[k]).sum(1).mean())
    return {"model": model, "onnx_dir": onnx_dir, "threads": threads, "rows": rows,
            "quality": "cosine to PyTorch fp32 (Hugging Face module) on "
                       f"{len(QUERIES)} texts and {windows} synthetic 10 s clips"}


def format_report(rep: dict) -> str:
    head = ("| runtime | text p50 ms | text p99 ms | audio × real time | peak RSS MiB | "
            "text cos min | audio cos min |")
    lines = [head, "|---|---|---|---|---|---|---|"]
    for r in rep["rows"]:
        lines.append(f"| {r['runtime']} | {r['text_p50_ms']:.1f} | {r['text_p99_ms']:.1f} | "
                     f"{r['audio_x_realtime']:.1f} | {r['peak_rss_mib']:.0f} | "
                     f"{r.get('text_cos_min', float('nan')):.5f} | "
                     f"{r.get('audio_cos_min', float('nan')):.5f} |")
    lines.append(f"quality: {rep['quality']}; threads: {rep['threads'] or 'default'}")
    return "\n".join(lines)


__all__ = ["RUNTIMES", "bench_runtime", "format_report", "worker"]
