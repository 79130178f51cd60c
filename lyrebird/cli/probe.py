"""``lyrebird probe``: frozen-encoder probe reports (grid, baselines, layers, plots)."""

from __future__ import annotations

import logging
from pathlib import Path

import click

from lyrebird.cli import main
from lyrebird.cli._common import emit, json_option

log = logging.getLogger("lyrebird")
_ALIASES = {"instrument": "instrument_family"}


def _resolve_tasks(tasks: str, probes_dir: Path, benchmarks: tuple[str, ...]) -> tuple[list, list]:
    """Task names/manifests and ``NAME=DIR`` benchmarks → (tasks, errors); bad ones are
    reported and skipped."""
    from lyrebird.train.probes.adapters import ADAPTERS
    from lyrebird.train.probes.tasks import TaskError, load_task

    out, errors = [], []
    for t in [t.strip() for t in tasks.split(",") if t.strip()]:
        name = _ALIASES.get(t, t)
        path = Path(t) if Path(t).suffix in (".parquet", ".csv") else probes_dir / f"{name}.parquet"
        try:
            out.append(load_task(path))
        except TaskError as e:
            errors.append(str(e))
    for b in benchmarks:
        name, _, d = b.partition("=")
        if name not in ADAPTERS or not d:
            raise click.BadParameter(f"{b!r}: expected NAME=DIR with NAME one of "
                                     f"{sorted(ADAPTERS)}", param_hint="--benchmark")
        try:
            out.extend(ADAPTERS[name](Path(d)))
        except (TaskError, FileNotFoundError, ValueError) as e:
            errors.append(f"benchmark {name}: {e}")
    for e in errors:
        log.error("probe: skipping task: %s", e)
    return out, errors


@main.command("probe")
@click.option("--encoder", "encoders", multiple=True, required=True,
              help="Encoder name (list: lyrebird.encoders.list_encoders) or checkpoint "
                   "directory; repeat to compare.")
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
@click.option("--grid", type=click.Choice(["full", "marble"]), default="full", show_default=True,
              help="full: the 216-configuration JukeMIR grid; marble: one MLP (fast).")
@click.option("--layers/--no-layers", default=True, show_default=True,
              help="Also probe every encoder layer (one MLP each).")
@click.option("--baselines/--no-baselines", default=True, show_default=True,
              help="Random-init twins and hand-crafted features (log-mel, MFCC, chroma for key).")
@click.option("--max-epochs", default=40, show_default=True, help="Epoch limit per probe.")
@click.option("--patience", default=5, show_default=True,
              help="Early stopping: epochs without a better validation score.")
@click.option("--halving/--no-halving", default=True, show_default=True,
              help="Successive halving inside the grid (eta 3 at epochs 4, 8, 16; several times faster; --no-halving trains "
                   "every configuration until its own early stop).")
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
    import torch

    from lyrebird.train.probes.report import summary_table, write_report
    from lyrebird.train.probes.run import ProbeOptions, run_probe

    if threads:
        torch.set_num_threads(threads)
    task_list, errors = _resolve_tasks(tasks, probes_dir, benchmarks)
    if unseen_by:
        from lyrebird.train.probes.tasks import TaskError, drop_seen_test_works, seen_works

        try:
            seen = seen_works(list(unseen_by))
        except TaskError as e:
            raise click.ClickException(str(e)) from e
        kept = []
        for t in task_list:
            try:
                kept.append(drop_seen_test_works(t, seen))
            except TaskError as e:
                errors.append(str(e))
        task_list = kept
    if not task_list:
        raise click.ClickException("no usable task: " + "; ".join(errors))
    try:
        from lyrebird.encoders import get_encoder

        for e in encoders:
            get_encoder(e, device="cpu")
    except (ValueError, FileNotFoundError) as e:
        raise click.ClickException(str(e)) from e
    opts = ProbeOptions(grid=grid, layers=layers, baselines=baselines,
                        cache_dir=cache_dir or out_dir.parent / ".probe-cache",
                        max_epochs=max_epochs, patience=patience, halving=halving)

    def on_row(r: dict) -> None:
        log.info("probe %-28s %-18s %s=%.3f (grid %.0f s, %d configs)", r["extractor"],
                 r["task"], r["metric"], r["score"], r["grid_s"], r["n_configs"])

    run = run_probe(list(encoders), task_list, opts, on_row=on_row)
    run.errors = errors + run.errors
    files = write_report(run, out_dir)
    result = {"report": str(files["md"]), "html": str(files["html"]),
              "csv": str(files["csv"]), "seconds": round(run.seconds, 1),
              "errors": run.errors,
              "results": [{k: r[k] for k in ("extractor", "role", "task", "metric", "score")}
                          for r in run.rows],
              "vs_random_init": run.comparisons}
    human = (summary_table(run).to_string(index=False, float_format="%.3f") if run.rows else "")
    for c in run.comparisons:
        human += (f"\n{c['encoder']} vs {c['baseline']} · {c['task']}: {c['metric']} "
                  f"{c['diff']:+.3f} (95% [{c['ci_low']:+.3f}, {c['ci_high']:+.3f}], "
                  f"p(not better) {c['p_not_better']:.2f})")
    emit(result, as_json, f"{human}\n\nreport: {files['md']} ({run.seconds / 60:.1f} min)")
