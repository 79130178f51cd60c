"""``lyrebird bench``: performance benchmarks that print ratios measured side by side."""

from __future__ import annotations

import click

from lyrebird.cli import main
from lyrebird.cli._common import emit, json_option


@main.group()
def bench() -> None:
    """Benchmarks: speed ratios measured side by side in one run."""


@bench.command("frontend")
@click.option("--preset", "presets", multiple=True, default=("myna", "muq"), show_default=True,
              help="Mel preset(s) to time.")
@click.option("--seconds", default=30.0, show_default=True, help="Seconds of audio per clip.")
@click.option("--batch", default=4, show_default=True, help="Clips per call.")
@click.option("--repeats", default=5, show_default=True, help="Timed rounds (median reported).")
@json_option
def bench_frontend_cmd(presets: tuple[str, ...], seconds: float, batch: int, repeats: int,
                       as_json: bool) -> None:
    """Mel front-end speed against nnAudio's MelSpectrogram and librosa."""
    from lyrebird.bench.frontend import bench_frontend, format_report

    reps = [bench_frontend(p, seconds=seconds, batch=batch, repeats=repeats) for p in presets]
    emit(reps, as_json, "\n\n".join(format_report(r) for r in reps))


@bench.command("myna")
@click.option("--preset", default="base-square", show_default=True,
              help="Model for the training comparison (base-square = ViT-S/16).")
@click.option("--batch", default=32, show_default=True, help="Pairs per training step.")
@click.option("--repeats", default=3, show_default=True)
@click.option("--embed-model", default="default", show_default=True,
              help="Encoder for the throughput test ('random' = the preset, untrained).")
@click.option("--embed-seconds", default=120.0, show_default=True)
@click.option("--no-memory", is_flag=True, help="Skip the peak-memory subprocesses.")
@json_option
def bench_myna_cmd(preset: str, batch: int, repeats: int, embed_model: str, embed_seconds: float,
                   no_memory: bool, as_json: bool) -> None:
    """Myna: masking speed-up, peak memory, embedding speed, and HF ViTModel parity."""
    from lyrebird.bench.myna import bench_myna, format_report

    rep = bench_myna(preset, batch, repeats, embed_model, embed_seconds, memory=not no_memory)
    emit(rep, as_json, format_report(rep))


@bench.command("index")
@click.option("--model", default="default", show_default=True,
              help="Model for ingestion and the text tower ('none' to skip both).")
@click.option("--sizes", default="10000,100000,1000000", show_default=True,
              help="Library sizes (tracks) for the query benchmark.")
@click.option("--queries", default=200, show_default=True)
@json_option
def bench_index_cmd(model: str, sizes: str, queries: int, as_json: bool) -> None:
    """Library: ingestion speed, query latency p50/p99, recall@10, memory per track."""
    from lyrebird.bench.index import bench_ingest, bench_queries, format_report

    use = None if model == "none" else model
    ingest = bench_ingest(use) if use else None
    rows = bench_queries(tuple(int(s) for s in sizes.split(",")), queries=queries, text_model=use)
    seg_per_track = (240 - 10) / 5 + 1
    emit({"ingest": ingest, "queries": rows}, as_json, format_report(ingest, rows, seg_per_track))


@bench.command("muq")
@click.option("--size", type=click.Choice(["tiny", "small", "base", "large"]), default="small",
              show_default=True, help="Backbone size (of the muq presets).")
@click.option("--depth", default=2, show_default=True,
              help="Layers for the scaling run (0 = the size's own depth).")
@click.option("--seconds", "seconds", multiple=True, type=float, default=(30.0, 120.0, 600.0),
              show_default=True, help="Sequence lengths for the scaling run.")
@click.option("--clip-s", default=30.0, show_default=True,
              help="Seconds per clip for the throughput run.")
@click.option("--batch", default=2, show_default=True, help="Clips per call (throughput).")
@click.option("--repeats", default=3, show_default=True, help="Timed rounds (median reported).")
@click.option("--no-memory", is_flag=True, help="Skip the peak-memory measurements.")
@click.option("--only", type=click.Choice(["scaling", "throughput"]), default=None,
              help="Run one of the two measurements.")
@click.option("--threads", default=0, show_default=True,
              help="CPU threads for torch (0 = torch's default; 1 is steadier on a busy machine).")
@json_option
def bench_muq_cmd(size: str, depth: int, seconds: tuple[float, ...], clip_s: float, batch: int,
                  repeats: int, no_memory: bool, only: str | None, threads: int,
                  as_json: bool) -> None:
    """SummaryMixing vs MHSA scaling (30 s to 10 min) and Conformer throughput vs HF."""
    import torch

    from lyrebird.bench.muq import bench_scaling, bench_throughput, format_report

    if threads > 0:
        torch.set_num_threads(threads)
    scaling = throughput = None
    if only in (None, "scaling"):
        scaling = bench_scaling(size, depth or None, tuple(seconds), repeats, not no_memory)
    if only in (None, "throughput"):
        throughput = bench_throughput(size, clip_s, batch, repeats)
    emit({"scaling": scaling, "throughput": throughput}, as_json,
         format_report(scaling, throughput))


@bench.command("serve")
@click.argument("url", required=False)
@click.option("--library", type=click.Path(exists=True, file_okay=False), default=None,
              help="Start a server on this library on a free loopback port (instead of URL).")
@click.option("--clients", type=click.IntRange(1), default=20, show_default=True,
              help="Concurrent clients (closed loop).")
@click.option("--seconds", type=click.FloatRange(1.0), default=30.0, show_default=True,
              help="How long to run.")
@click.option("--k", type=click.IntRange(1, 100), default=10, show_default=True)
@click.option("--auth", default=None, metavar="USER:PASS", help="Credentials of the server.")
@json_option
def bench_serve_cmd(url: str | None, library: str | None, clients: int, seconds: float, k: int,
                    auth: str | None, as_json: bool) -> None:
    """App under load: N concurrent searching clients → requests, errors, p50/p99 latency."""
    from lyrebird.bench.serve import run_load
    from lyrebird.ui import parse_auth

    if bool(url) == bool(library):
        raise click.UsageError("give either URL (a running `lyrebird serve`) or --library")
    server = None
    if library:
        from lyrebird.ui import LibraryService, ServeConfig, Server, make_app

        server = Server(make_app(LibraryService(library), ServeConfig(auth=parse_auth(auth))),
                        port=0).start()
        url = server.url
    try:
        rep = run_load(url, clients, seconds, k, auth=parse_auth(auth))
    finally:
        if server:
            server.stop()
    d = rep.to_dict()
    human = (f"{d['clients']} clients × {d['seconds']:.0f} s against {d['url']}: "
             f"{d['requests']} requests, {d['errors']} errors, p50 {d['p50_ms']:.0f} ms, "
             f"p99 {d['p99_ms']:.0f} ms, max {d['max_ms']:.0f} ms, "
             f"{d['throughput_rps']:.1f} req/s")
    if d["error_examples"]:
        human += "\nerrors, e.g.:\n  " + "\n  ".join(d["error_examples"])
    emit(d, as_json, human)
