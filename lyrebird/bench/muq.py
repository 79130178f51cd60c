"""``lyrebird bench muq``: SummaryMixing vs MHSA scaling, and the Conformer vs Hugging Face's.

Two measurements, each side by side in one process run:

1. **Scaling.** One forward pass of the same backbone with rotary MHSA and with SummaryMixing
   over a single sequence of 30 s, 2 min and 10 min of 25 Hz frames (no chunking: this is the
   cost the chunked inference of ``embed`` avoids). MHSA runs twice: with the fused SDPA
   kernel (memory-efficient) and with the ``T × T`` score matrix materialised. Wall time is timed round-robin; peak memory
   is the extra resident memory of the forward pass, measured in a fresh subprocess per
   point on CPU (``VmHWM``) or with ``torch.cuda.max_memory_allocated`` on CUDA. The growth
   exponent between two lengths is ``log(cost ratio) / log(length ratio)``: 1 for linear,
   2 for quadratic.
2. **Throughput.** Our Conformer stack against ``transformers``' ``Wav2Vec2ConformerEncoder``
   (the backbone of the official MuQ code) built from a config object with random weights, at
   the same width, depth, heads, FFN width, kernel and rotary positions, on the same
   ``(B, T, D)`` input; plus our end-to-end audio → embedding rate with either stem.
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import math
import os
import resource
import statistics
import time
from collections.abc import Callable

import torch

from lyrebird.encoders.backbone import Backbone, BackboneConfig
from lyrebird.encoders.muq import SIZES, MuQEncoder, make_config

FRAME_RATE = 25.0  # Hz, the muq mel preset after stacking
FEATURES = 512


def _rss_bytes() -> int:
    """Current resident set size of this process."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _reset_peak_rss() -> None:
    """Reset this process's peak-RSS mark (Linux ``clear_refs`` 5), where permitted."""
    with contextlib.suppress(OSError), open("/proc/self/clear_refs", "w") as f:
        f.write("5")


def _peak_rss_bytes() -> int:
    """Peak resident set size of this process's address space (``VmHWM``).

    Not ``ru_maxrss``: Linux carries that mark over from the parent across fork/exec, so a
    child spawned by a process that once held 8 GB reports at least 8 GB.
    """
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _attention_context(math_kernel: bool):
    """``sdpa_kernel(MATH)`` (scores materialised as ``T × T``) or the default dispatch."""
    if not math_kernel:
        return contextlib.nullcontext()
    from torch.nn.attention import SDPBackend, sdpa_kernel

    return sdpa_kernel(SDPBackend.MATH)


def _forward_peak(cfg_dict: dict, frames: int, math_kernel: bool = False) -> float:
    """Child process: extra peak resident memory (bytes) of one forward pass."""
    torch.set_num_threads(int(os.environ.get("LYREBIRD_BENCH_THREADS", torch.get_num_threads())))
    model = Backbone(BackboneConfig(**cfg_dict)).eval()
    x = torch.randn(1, frames, FEATURES)
    with torch.inference_mode(), _attention_context(math_kernel):
        model(x[:, :64])  # allocator warm-up
        _reset_peak_rss()
        base = _rss_bytes()
        model(x)
    return _peak_rss_bytes() - base


def peak_memory(cfg: BackboneConfig, frames: int, device: torch.device,
                math_kernel: bool = False) -> float:
    """Extra peak memory in bytes of one forward over ``frames`` frames.

    CPU: measured in a fresh spawned process (peak ``VmHWM`` minus the resident size before the
    forward). CUDA: ``max_memory_allocated`` minus the allocation before the forward.
    """
    if device.type == "cuda":
        model = Backbone(cfg).eval().to(device)
        x = torch.randn(1, frames, FEATURES, device=device)
        with torch.inference_mode(), _attention_context(math_kernel):
            model(x[:, :64])
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            base = torch.cuda.memory_allocated()
            model(x)
            torch.cuda.synchronize()
        return float(torch.cuda.max_memory_allocated() - base)
    import multiprocessing as mp

    os.environ["LYREBIRD_BENCH_THREADS"] = str(torch.get_num_threads())
    with mp.get_context("spawn").Pool(1) as pool:
        return pool.apply(_forward_peak, (dataclasses.asdict(cfg), frames, math_kernel))


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def _time(fns: dict[str, Callable[[], object]], repeats: int, warmup: int,
          device: torch.device) -> dict[str, float]:
    """Median seconds per callable, round-robin."""
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    times: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(repeats):
        for k, fn in fns.items():
            _sync(device)
            t0 = time.perf_counter()
            fn()
            _sync(device)
            times[k].append(time.perf_counter() - t0)
    return {k: statistics.median(v) for k, v in times.items()}


CANDIDATES = {  # name -> (mixer, materialise the T x T scores)
    "mhsa": ("mhsa", False),
    "mhsa-math": ("mhsa", True),
    "summary": ("summary", False),
}


def bench_scaling(size: str = "small", depth: int | None = 2,
                  seconds: tuple[float, ...] = (30.0, 120.0, 600.0), repeats: int = 3,
                  memory: bool = True, device: str | None = None,
                  math_limit_gb: float = 8.0) -> dict:
    """Forward time and peak memory of MHSA vs SummaryMixing Conformers over ``seconds``.

    Candidates: ``mhsa`` (rotary MHSA, fused SDPA kernel: memory-efficient, quadratic time),
    ``mhsa-math`` (the same weights with the ``T × T`` score matrix materialised, as eager
    implementations do; skipped where that matrix would exceed ``math_limit_gb``) and
    ``summary`` (SummaryMixing).
    """
    dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    kw = {**SIZES[size], "dropout": 0.0, "stem": "linear"}
    if depth is not None:
        kw["depth"] = depth
    cfgs = {m: BackboneConfig(block="conformer", mixer=m, **kw) for m in ("mhsa", "summary")}
    torch.manual_seed(0)
    models = {m: Backbone(c).eval().to(dev) for m, c in cfgs.items()}

    def call(name: str, x: torch.Tensor):
        mixer, math_kernel = CANDIDATES[name]
        with _attention_context(math_kernel):
            return models[mixer](x)

    rows = []
    for i, s in enumerate(seconds):
        frames = int(round(s * FRAME_RATE))
        scores_gb = 2 * kw["heads"] * frames ** 2 * 4 / 2**30  # scores + softmax, fp32
        names = [n for n in CANDIDATES if n != "mhsa-math" or scores_gb <= math_limit_gb]
        x = torch.randn(1, frames, FEATURES, device=dev)
        with torch.inference_mode():
            med = _time({n: (lambda n=n, x=x: call(n, x)) for n in names}, repeats,
                        1 if i == 0 else 0, dev)
        row = {"seconds": s, "frames": frames, "time_s": med, "mem_bytes": {}}
        if memory:
            row["mem_bytes"] = {n: peak_memory(cfgs[CANDIDATES[n][0]], frames, dev,
                                               CANDIDATES[n][1]) for n in names}
        row["summary_speedup"] = med["mhsa"] / med["summary"]
        rows.append(row)
    for a, b in itertools.pairwise(rows):
        lr = math.log(b["frames"] / a["frames"])
        both = [n for n in b["time_s"] if n in a["time_s"]]
        b["time_exponent"] = {n: math.log(b["time_s"][n] / a["time_s"][n]) / lr for n in both}
        if memory:
            b["mem_exponent"] = {n: math.log(max(b["mem_bytes"][n], 1.0) /
                                             max(a["mem_bytes"][n], 1.0)) / lr for n in both}
    return {"device": str(dev), "threads": torch.get_num_threads(),
            "backbone": dict(kw), "rows": rows}


def hf_conformer(cfg: BackboneConfig) -> torch.nn.Module:
    """``transformers`` ``Wav2Vec2ConformerEncoder`` at ``cfg``'s shape, random weights, no
    download (built from a config object)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from transformers import Wav2Vec2ConformerConfig
    from transformers.models.wav2vec2_conformer.modeling_wav2vec2_conformer import (
        Wav2Vec2ConformerEncoder,
    )

    hc = Wav2Vec2ConformerConfig(
        hidden_size=cfg.dim, num_hidden_layers=cfg.depth, num_attention_heads=cfg.heads,
        intermediate_size=cfg.ffn_dim, conv_depthwise_kernel_size=cfg.kernel,
        position_embeddings_type="rotary", hidden_act="swish", hidden_dropout=0.0,
        attention_dropout=0.0, activation_dropout=0.0, conformer_conv_dropout=0.0,
        layerdrop=0.0, attn_implementation="sdpa")
    return Wav2Vec2ConformerEncoder(hc).eval()


def bench_throughput(size: str = "small", clip_s: float = 30.0, batch: int = 2,
                     repeats: int = 3, device: str | None = None) -> dict:
    """Conformer stack throughput vs Hugging Face's, and our audio → embedding rate."""
    dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    torch.manual_seed(0)
    cfg = make_config("muq", size)
    bb = dataclasses.replace(cfg.backbone, dropout=0.0)
    ours = Backbone(bb).eval().to(dev)
    hf = hf_conformer(bb).to(dev)
    frames = int(round(clip_s * FRAME_RATE))
    h = torch.randn(batch, frames, bb.dim, device=dev)

    def run_ours():
        x = h
        for blk in ours.blocks:
            x = blk(x)
        return x

    encs = {}
    for stem in ("conv2d", "linear"):
        c = make_config("muq", size)
        c = dataclasses.replace(c, clip_s=clip_s, backbone=dataclasses.replace(bb, stem=stem))
        encs[stem] = MuQEncoder(c).eval().to(dev)
    audio = torch.randn(batch, encs["linear"].clip_samples, device=dev) * 0.1
    fns = {"lyrebird Conformer": run_ours, "HF Wav2Vec2ConformerEncoder": lambda: hf(h),
           "lyrebird end-to-end (conv2d stem)": lambda: encs["conv2d"].encode_clips(audio),
           "lyrebird end-to-end (linear stem)": lambda: encs["linear"].encode_clips(audio)}
    with torch.inference_mode():
        med = _time(fns, repeats, 1, dev)
    audio_s = clip_s * batch
    params = {"lyrebird Conformer": sum(p.numel() for p in ours.blocks.parameters()),
              # its positional-convolution embedding is built but never run by forward()
              "HF Wav2Vec2ConformerEncoder": sum(p.numel() for n, p in hf.named_parameters()
                                                 if not n.startswith("pos_conv_embed"))}
    base = med["HF Wav2Vec2ConformerEncoder"]
    return {"device": str(dev), "threads": torch.get_num_threads(), "size": size,
            "backbone": dataclasses.asdict(bb), "audio_seconds": audio_s, "params": params,
            "results": {k: {"seconds": v, "realtime_x": audio_s / v, "speedup_vs_hf": base / v}
                        for k, v in med.items()}}


def bench_muq(size: str = "small", depth: int | None = 2,
              seconds: tuple[float, ...] = (30.0, 120.0, 600.0), clip_s: float = 30.0,
              batch: int = 2, repeats: int = 3, memory: bool = True, only: str | None = None,
              threads: int = 0) -> dict:
    """:func:`bench_scaling` and :func:`bench_throughput` (``only``: just ``"scaling"`` or
    ``"throughput"``) → ``{"scaling": ..., "throughput": ...}``; ``threads`` > 0 sets torch's
    CPU threads (1 is steadier on a busy machine)."""
    if threads > 0:
        torch.set_num_threads(threads)
    scaling = throughput = None
    if only in (None, "scaling"):
        scaling = bench_scaling(size, depth, tuple(seconds), repeats, memory)
    if only in (None, "throughput"):
        throughput = bench_throughput(size, clip_s, batch, repeats)
    return {"scaling": scaling, "throughput": throughput}


def format_report(scaling: dict | None, throughput: dict | None) -> str:
    """Human-readable tables of :func:`bench_scaling` and :func:`bench_throughput`."""
    out = []
    if scaling:
        b = scaling["backbone"]
        names = list(CANDIDATES)
        out += [f"SummaryMixing vs MHSA: one forward over the whole sequence, Conformer "
                f"dim {b['dim']} x {b['depth']} layers, {scaling['device']}, "
                f"{scaling['threads']} threads"]
        for what, key, exp, fmt in (("forward time, s", "time_s", "time_exponent", "{:9.3f}"),
                                    ("peak memory, MB", "mem_bytes", "mem_exponent", "{:9.1f}")):
            if not any(r[key] for r in scaling["rows"]):
                continue
            out.append(f"{what:16s}" + "".join(f"{n:>11s}" for n in names)
                       + "   growth exponent " + " / ".join(names))
            for r in scaling["rows"]:
                scale = 2**20 if key == "mem_bytes" else 1
                vals = "".join(f"{fmt.format(r[key][n] / scale):>11s}" if n in r[key]
                               else f"{'skipped':>11s}" for n in names)
                e = r.get(exp)
                es = " / ".join(f"{e[n]:.2f}" if n in e else "-" for n in names) if e else "-"
                out.append(f"{r['seconds']:7.0f} s audio " + vals + "   " + es)
        out.append("growth exponent: log(cost ratio) / log(length ratio) against the previous "
                   "row (1 = linear, 2 = quadratic); mhsa = fused SDPA kernel, mhsa-math = "
                   "T x T scores materialised")
        out.append("SummaryMixing speedup over MHSA: " + ", ".join(
            f"{r['seconds']:.0f} s {r['summary_speedup']:.1f}x" for r in scaling["rows"]))
    if throughput:
        tp = throughput
        b = tp["backbone"]
        out += ["" if out else None,
                f"Embedding throughput: {tp['size']} Conformer (dim {b['dim']} x {b['depth']}, "
                f"{b['heads']} heads, FFN {b['ffn_dim']}, kernel {b['kernel']}, rotary), "
                f"{tp['audio_seconds']:.0f} s of audio per call, {tp['device']}, "
                f"{tp['threads']} threads",
                f"{'candidate':36s} {'median s':>9s} {'x realtime':>11s} {'vs HF':>7s}"]
        for k, r in tp["results"].items():
            out.append(f"{k:36s} {r['seconds']:9.3f} {r['realtime_x']:11.1f} "
                       f"{r['speedup_vs_hf']:6.2f}x")
        out.append(f"parameters: lyrebird {tp['params']['lyrebird Conformer'] / 1e6:.1f} M, "
                   f"HF {tp['params']['HF Wav2Vec2ConformerEncoder'] / 1e6:.1f} M "
                   f"(the two Conformer rows take the same (B, T, D) input; end-to-end rows "
                   f"include the mel front-end and stem)")
    return "\n".join(x for x in out if x is not None)
