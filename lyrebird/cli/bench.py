"""``lyrebird bench``: performance benchmarks that print ratios measured side by side."""

from __future__ import annotations

import click

from lyrebird.cli._common import emit, json_option, user_errors


@click.group()
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
    from lyrebird.bench.index import bench_index, format_report

    rep = bench_index(None if model == "none" else model,
                      tuple(int(s) for s in sizes.split(",")), queries)
    emit(rep, as_json, format_report(rep["ingest"], rep["queries"]))


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
    from lyrebird.bench.muq import bench_muq, format_report

    rep = bench_muq(size, depth or None, tuple(seconds), clip_s, batch, repeats,
                    memory=not no_memory, only=only, threads=threads)
    emit(rep, as_json, format_report(rep["scaling"], rep["throughput"]))


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
    from lyrebird.bench.serve import bench_serve, format_report
    from lyrebird.ui.config import parse_auth

    if bool(url) == bool(library):
        raise click.UsageError("give either URL (a running `lyrebird serve`) or --library")
    with user_errors(ValueError):
        creds = parse_auth(auth)
    rep = bench_serve(url, library, clients, seconds, k, auth=creds)
    emit(rep.to_dict(), as_json, format_report(rep))
