"""``lyrebird bench``: performance benchmarks that print ratios measured side by side."""

from __future__ import annotations

from pathlib import Path

import click

from lyrebird.cli._common import emit, json_option, user_errors
from lyrebird.core.model_spec import SPEC_HELP


@click.group()
def bench() -> None:
    """Benchmarks: speed ratios measured side by side in one run."""


@bench.command("frontend")
@click.option("--preset", "presets", multiple=True, default=("myna", "muq"), show_default=True,
              help="Mel preset(s) to time.")
@click.option("--seconds", default=30.0, show_default=True, help="Seconds of audio per clip.")
@click.option("--batch", default=4, show_default=True, help="Clips per call.")
@click.option("--repeats", default=5, show_default=True, help="Timed rounds (median reported).")
@click.option("--threads", "thread_counts", multiple=True, type=click.IntRange(0, 256),
              default=(0,), show_default=True,
              help="torch threads, repeatable (0 = torch's default; librosa uses one; an "
                   "ingest worker uses one).")
@json_option
def bench_frontend_cmd(presets: tuple[str, ...], seconds: float, batch: int, repeats: int,
                       thread_counts: tuple[int, ...], as_json: bool) -> None:
    """Mel front-end speed against nnAudio's MelSpectrogram and librosa."""
    import torch

    from lyrebird.bench.frontend import bench_frontend, format_report

    default, reps = torch.get_num_threads(), []
    for n in thread_counts:
        torch.set_num_threads(n or default)
        reps += [bench_frontend(p, seconds=seconds, batch=batch, repeats=repeats)
                 for p in presets]
    torch.set_num_threads(default)
    emit(reps, as_json, "\n\n".join(format_report(r) for r in reps))


@bench.command("myna")
@click.option("--preset", default="base-square", show_default=True,
              help="Model for the training comparison (base-square = ViT-S/16).")
@click.option("--batch", default=32, show_default=True, help="Pairs per training step.")
@click.option("--repeats", default=3, show_default=True)
@click.option("--embed-model", default="default", show_default=True,
              help=f"Encoder for the throughput test: {SPEC_HELP}, of kind encoder ('random' "
                   "= the preset, untrained).")
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
              help=f"Model for ingestion and the text tower: {SPEC_HELP} ('none' to skip "
                   "both).")
@click.option("--sizes", default="10000,100000,1000000", show_default=True,
              help="Library sizes (tracks) for the query benchmark ('' to skip it).")
@click.option("--queries", default=1000, show_default=True, help="Queries per run.")
@click.option("--runs", default=3, show_default=True, help="Timed runs (p99 of each printed).")
@click.option("--files", "file_set", type=click.Choice(["installed", "generated"]),
              default="installed", show_default=True,
              help="Ingestion of the recordings Debian game packages install (a stage table and "
                   "the previous path side by side with the new one), or of generated tones.")
@click.option("--workers", default=None, type=click.IntRange(0, 64),
              help="Ingest threads of the new path (default: one per core).")
@click.option("--ingest-repeats", default=2, show_default=True,
              help="Alternated rounds of the side-by-side ingestion (median reported).")
@json_option
def bench_index_cmd(model: str, sizes: str, queries: int, runs: int, file_set: str,
                    workers: int | None, ingest_repeats: int, as_json: bool) -> None:
    """Library: ingestion per stage and side by side, query latency p50/p99 (spread over runs),
    recall@10, memory."""
    from lyrebird.bench.index import bench_ingest, bench_queries, format_report

    m = None if model == "none" else model
    size_list = tuple(int(s) for s in sizes.split(",") if s.strip())
    ingest = bench_ingest(m) if m and file_set == "generated" else None
    rows = bench_queries(size_list, queries=queries, text_model=m, runs=runs) if size_list else []
    rep, text = {"ingest": ingest, "queries": rows}, []
    if m and file_set == "installed":
        from lyrebird.bench.ingest import ingest_report

        rep["ingest"], lines = ingest_report(m, workers, ingest_repeats)
        text.append(lines)
    if rows or ingest:
        text.append(format_report(ingest, rows))
    emit(rep, as_json, "\n\n".join(text))


@bench.command("cold")
@click.argument("library", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--query", default="calm piano", show_default=True, help="The text query.")
@click.option("--file", "file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              default=None, help="A file the library holds (default: its first track).")
@click.option("--repeats", default=5, show_default=True, type=click.IntRange(1, 50),
              help="Alternated rounds (median reported).")
@json_option
def bench_cold_cmd(library: Path, query: str, file: Path | None, repeats: int,
                   as_json: bool) -> None:
    """Cold CLI: `search` and `similar FILE` as fresh processes, side by side with the previous
    text path (torch) and with a file the library does not hold."""
    from lyrebird.bench.cold import bench_cold, format_cold

    try:
        rep = bench_cold(library, query, file, repeats)
    except (ValueError, RuntimeError) as e:
        raise click.ClickException(str(e)) from e
    emit(rep, as_json, format_cold(rep))


@bench.command("identify")
@click.option("--library", type=click.Path(path_type=Path), default=Path("runs/identify-lib"),
              show_default=True, help="Library of the real recordings (built when missing).")
@click.option("--manifest", type=click.Path(exists=True, path_type=Path), default=None,
              help="Recordings from a manifest with path and package columns (default: the "
                   "installed Debian game-music packages).")
@click.option("--per-package", default=12, show_default=True, help="Recordings per package.")
@click.option("--model", default="default", show_default=True,
              help=f"Model of a new library: {SPEC_HELP}.")
@click.option("--cache", type=click.Path(path_type=Path), default=None,
              help="Where embedded excerpts are kept (default: LIBRARY/../identify-cache).")
@click.option("--distractors", default="1000,10000,100000", show_default=True,
              help="Synthetic distractor tracks to add, cumulatively ('' to skip).")
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="Also write the report as JSON here.")
@json_option
def bench_identify_cmd(library: Path, manifest: Path | None, per_package: int, model: str,
                       cache: Path | None, distractors: str, out: Path | None,
                       as_json: bool) -> None:
    """Excerpt → source track: top-1 under resampling, noise, gain and re-encoding on real
    recordings, latency, same-package P@5, and top-1 as the library grows."""
    import json

    from lyrebird.bench.identify import bench_identify, format_report
    from lyrebird.bench.realcorpus import installed_recordings, manifest_recordings

    recs = (manifest_recordings(manifest, per_package) if manifest
            else installed_recordings(per_package))
    if not recs:
        raise click.ClickException("no recordings: install the Debian game-music packages "
                                   "(`lyrebird data debian-music --install`) or give --manifest")
    sizes = tuple(int(x) for x in distractors.split(",") if x.strip())
    rep = bench_identify(library, recs, cache or library.parent / "identify-cache", model,
                         sizes, log=lambda m: click.echo(m, err=True))
    if out:
        out.write_text(json.dumps(rep, indent=1) + "\n")
    emit(rep, as_json, format_report(rep))


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


@bench.command("runtime")
@click.option("--model", default="default", show_default=True,
              help=f"MuLan to compare: {SPEC_HELP}.")
@click.option("--onnx-dir", type=click.Path(exists=True, file_okay=False), default=None,
              help="A `lyrebird export onnx --int8` folder of that model (default: export now).")
@click.option("--repeats", default=3, show_default=True, help="Passes over the 50 queries.")
@click.option("--windows", default=16, show_default=True, help="10 s windows for throughput.")
@click.option("--threads", default=0, show_default=True,
              help="Threads for torch and onnxruntime (0 = their defaults).")
@click.option("--runtime", "runtimes", multiple=True,
              type=click.Choice(["pytorch", "pytorch-fp32", "onnx", "onnx-int8"]),
              help="Runtimes to run (default: all).")
@json_option
def bench_runtime_cmd(model: str, onnx_dir: str | None, repeats: int, windows: int,
                      threads: int, runtimes: tuple[str, ...], as_json: bool) -> None:
    """PyTorch vs onnxruntime fp32/int8: query p50/p99, audio × real time, memory, quality."""
    from lyrebird.bench.runtime import RUNTIMES, bench_runtime, format_report

    with user_errors(ValueError, RuntimeError, ImportError):
        rep = bench_runtime(model, onnx_dir, repeats, windows, threads, runtimes or RUNTIMES)
    emit(rep, as_json, format_report(rep))


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
@click.option("--target", "targets", type=click.Choice(["app", "api"]), multiple=True,
              default=("app", "api"), show_default=True,
              help="What to load: the Gradio app's search, the JSON API's /api/search, or both.")
@click.option("--distinct", is_flag=True,
              help="Make every query new (no text-vector cache hits).")
@click.option("--sessions", type=click.Choice(["client", "request"]), default="client",
              show_default=True,
              help="App calls: one Gradio session per client (as a browser tab or gradio_client) "
                   "or a new session per request (as curl).")
@json_option
def bench_serve_cmd(url: str | None, library: str | None, clients: int, seconds: float, k: int,
                    auth: str | None, targets: tuple[str, ...], distinct: bool, sessions: str,
                    as_json: bool) -> None:
    """Server under load: N concurrent searching clients against the app and/or the JSON API
    → requests, errors, p50/p99 latency, throughput."""
    from lyrebird.bench.serve import bench_serve, format_report
    from lyrebird.ui.config import parse_auth

    if bool(url) == bool(library):
        raise click.UsageError("give either URL (a running `lyrebird serve`) or --library")
    with user_errors(ValueError):
        creds = parse_auth(auth)
    reps = bench_serve(url, library, clients, seconds, k, auth=creds, targets=targets,
                       distinct=distinct, sessions=sessions)
    emit([r.to_dict() for r in reps], as_json, "\n".join(format_report(r) for r in reps))
