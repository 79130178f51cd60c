"""``lyrebird probe``: frozen-encoder probe reports (grid, baselines, layers, plots)."""

from __future__ import annotations

import logging
from pathlib import Path

import click

from lyrebird.cli._common import emit, json_option
from lyrebird.core.model_spec import SPEC_HELP
from lyrebird.train.probes.options import ProbeOptions

log = logging.getLogger("lyrebird")
_OPTS = ProbeOptions()


@click.command("probe")
@click.option("--encoder", "encoders", multiple=True, required=True,
              help=f"Encoder to probe, repeat to compare: {SPEC_HELP}, of kind encoder (which "
                   "may be left out): 'default', 'myna:small-hybrid', a folder, "
                   "'default?embed_mode=square'.")
@click.option("--tasks", default="key,instrument_family,pitch,tempo,collection,tagging",
              show_default=True,
              help="Comma-separated offline task names (from --probes-dir) or manifest paths.")
@click.option("--probes-dir", type=click.Path(file_okay=False, path_type=Path),
              default=Path("data/demo/probes"), show_default=True,
              help="Where the offline task manifests are ('lyrebird data demo --out D' → D/probes).")
@click.option("--benchmark", "benchmarks", multiple=True,
              help="A real benchmark in a local directory, NAME=DIR: mtt, gtzan, giantsteps, "
                   "emomusic, nsynth, vocalset (repeatable).")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Report directory (report.md, report.html, results.csv/.json, plots/).")
@click.option("--grid", type=click.Choice(["full", "marble"]), default=_OPTS.grid, show_default=True,
              help="full: the 216-configuration JukeMIR grid; marble: one MLP (fast).")
@click.option("--layers/--no-layers", default=_OPTS.layers, show_default=True,
              help="Also probe every encoder layer (one MLP each).")
@click.option("--baselines/--no-baselines", default=_OPTS.baselines, show_default=True,
              help="Random-init twins and hand-crafted features (log-mel, MFCC, chroma for key).")
@click.option("--max-epochs", default=_OPTS.max_epochs, show_default=True,
              help="Epoch limit per probe.")
@click.option("--patience", default=_OPTS.patience, show_default=True,
              help="Early stopping: epochs without a better validation score.")
@click.option("--halving/--no-halving", default=_OPTS.halving, show_default=True,
              help="Successive halving inside the grid (eta 3 at epochs 4, 8, 16; several times "
                   "faster; --no-halving trains every configuration until its own early stop).")
@click.option("--cache", "cache_dir", type=click.Path(file_okay=False, path_type=Path),
              default=None, help="Feature cache (default OUT/../.probe-cache).")
@click.option("--threads", default=None, type=int, help="torch threads (default: torch's).")
@click.option("--unseen-by", "unseen_by", multiple=True,
              type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="Pretraining manifest of the encoders (repeatable): test clips of works "
                   "it holds outside its test split are dropped, so no test work was heard in "
                   "pretraining.")
@json_option
def probe_cmd(encoders: tuple[str, ...], tasks: str, probes_dir: Path,
              benchmarks: tuple[str, ...], out_dir: Path, grid: str, layers: bool,
              baselines: bool, max_epochs: int, patience: int, halving: bool, cache_dir: Path | None,
              threads: int | None, unseen_by: tuple[Path, ...], as_json: bool) -> None:
    """Compare encoders on downstream tasks with frozen embeddings, and write a report."""
    from lyrebird.train.probes.pipeline import BenchmarkSpecError, probe_encoders
    from lyrebird.train.probes.report import summary_table

    opts = ProbeOptions(grid=grid, layers=layers, baselines=baselines,
                        cache_dir=cache_dir or out_dir.parent / ".probe-cache",
                        max_epochs=max_epochs, patience=patience, halving=halving)

    def on_row(r: dict) -> None:
        log.info("probe %-28s %-18s %s=%.3f (grid %.0f s, %d configs)", r["extractor"],
                 r["task"], r["metric"], r["score"], r["grid_s"], r["n_configs"])

    try:
        rep = probe_encoders(encoders, [t.strip() for t in tasks.split(",") if t.strip()],
                             out_dir, probes_dir=probes_dir, benchmarks=benchmarks,
                             unseen_by=unseen_by, options=opts, threads=threads, on_row=on_row)
    except BenchmarkSpecError as e:
        raise click.BadParameter(str(e), param_hint="--benchmark") from e
    except (ValueError, FileNotFoundError) as e:
        raise click.ClickException(str(e)) from e
    run = rep.run
    human = (summary_table(run).to_string(index=False, float_format="%.3f") if run.rows else "")
    for c in run.comparisons:
        human += (f"\n{c['encoder']} vs {c['baseline']} · {c['task']}: {c['metric']} "
                  f"{c['diff']:+.3f} (95% [{c['ci_low']:+.3f}, {c['ci_high']:+.3f}], "
                  f"p(not better) {c['p_not_better']:.2f})")
    emit(rep.to_dict(), as_json,
         f"{human}\n\nreport: {rep.files['md']} ({run.seconds / 60:.1f} min)")
