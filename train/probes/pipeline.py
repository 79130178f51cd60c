"""A probe run from names and folders (``lyrebird probe``): tasks by name or manifest,
benchmarks by folder, encoders by name; test works heard in pretraining dropped; then
:func:`~.run.run_probe` and :func:`~.report.write_report`.

Tasks that cannot be loaded are skipped and listed in the report's errors; the run fails only
when no task is left, an encoder is unknown, or a benchmark is named badly.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .options import ProbeOptions
from .run import ProbeRun, run_probe
from .tasks import Task, TaskError

log = logging.getLogger("lyrebird.train")

TASK_ALIASES = {"instrument": "instrument_family"}
"""Short task names accepted on the command line."""


class BenchmarkSpecError(ValueError):
    """A ``NAME=DIR`` benchmark with an unknown name or no folder."""


def resolve_tasks(tasks: Sequence[str], probes_dir: str | os.PathLike,
                  benchmarks: Sequence[str] = ()) -> tuple[list[Task], list[str]]:
    """Task names (found as ``probes_dir/NAME.parquet``) or manifest paths, and ``NAME=DIR``
    benchmarks → ``(tasks, errors)``; a task that cannot be loaded is an error, skipped.
    Raises :class:`BenchmarkSpecError` on a malformed benchmark."""
    from .adapters import ADAPTERS
    from .tasks import load_task

    out: list[Task] = []
    errors: list[str] = []
    for t in tasks:
        name = TASK_ALIASES.get(t, t)
        path = (Path(t) if Path(t).suffix in (".parquet", ".csv")
                else Path(probes_dir) / f"{name}.parquet")
        try:
            out.append(load_task(path))
        except TaskError as e:
            errors.append(str(e))
    for b in benchmarks:
        name, _, d = b.partition("=")
        if name not in ADAPTERS or not d:
            raise BenchmarkSpecError(f"{b!r}: expected NAME=DIR with NAME one of "
                                     f"{sorted(ADAPTERS)}")
        try:
            out.extend(ADAPTERS[name](Path(d)))
        except (TaskError, FileNotFoundError, ValueError) as e:
            errors.append(f"benchmark {name}: {e}")
    for e in errors:
        log.error("probe: skipping task: %s", e)
    return out, errors


def drop_seen(tasks: list[Task], unseen_by: Sequence[str | os.PathLike]
              ) -> tuple[list[Task], list[str]]:
    """``tasks`` without the test clips of works in the pretraining manifests ``unseen_by``;
    a task left without test clips is an error, skipped. Raises :class:`TaskError` on an
    unreadable pretraining manifest."""
    from .tasks import drop_seen_test_works, seen_works

    if not unseen_by:
        return tasks, []
    seen = seen_works(list(unseen_by))
    kept, errors = [], []
    for t in tasks:
        try:
            kept.append(drop_seen_test_works(t, seen))
        except TaskError as e:
            errors.append(str(e))
    return kept, errors


@dataclass
class ProbeReport:
    """A finished probe run and the report files written for it."""

    run: ProbeRun
    files: dict[str, Path] = field(default_factory=dict)

    def to_dict(self) -> dict:
        """The JSON summary: report paths, time, errors, scores, comparisons with twins."""
        run, files = self.run, self.files
        return {"report": str(files["md"]), "html": str(files["html"]),
                "csv": str(files["csv"]), "seconds": round(run.seconds, 1),
                "errors": run.errors,
                "results": [{k: r[k] for k in ("extractor", "role", "task", "metric", "score")}
                            for r in run.rows],
                "vs_random_init": run.comparisons}


def probe_encoders(encoders: Sequence[str], tasks: Sequence[str], out_dir: str | os.PathLike,
                   *, probes_dir: str | os.PathLike, benchmarks: Sequence[str] = (),
                   unseen_by: Sequence[str | os.PathLike] = (),
                   options: ProbeOptions = ProbeOptions(), threads: int | None = None,
                   on_row: Callable[[dict], None] | None = None) -> ProbeReport:
    """Probe ``encoders`` on the named ``tasks`` and ``benchmarks`` and write the report
    under ``out_dir``. ``threads``: torch threads (default: torch's).

    Raises ``ValueError`` (:class:`TaskError` when no task is usable, naming why each was
    skipped; :class:`BenchmarkSpecError`; an unknown encoder) or ``FileNotFoundError``.
    """
    import torch

    from lyrebird.encoders import get_encoder

    from .report import write_report

    if threads:
        torch.set_num_threads(threads)
    task_list, errors = resolve_tasks(tasks, probes_dir, benchmarks)
    task_list, unseen_errors = drop_seen(task_list, unseen_by)
    errors += unseen_errors
    if not task_list:
        raise TaskError("no usable task: " + "; ".join(errors))
    for e in encoders:
        get_encoder(e, device="cpu")  # fails early, naming an unknown encoder
    run = run_probe(list(encoders), task_list, options, on_row=on_row)
    run.errors = errors + run.errors
    return ProbeReport(run, write_report(run, out_dir))
