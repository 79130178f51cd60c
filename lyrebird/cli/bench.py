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
