"""Frozen-encoder probe evaluation: tasks, cached features, the JukeMIR grid, baselines, reports.

``lyrebird probe --encoder NAME --tasks key,... --out DIR`` is the command-line entry point
(:func:`~.pipeline.probe_encoders`); :func:`run_probe` and :func:`write_report` are the Python
one. Names load on first use, so the light :mod:`.options` (``ProbeOptions``) does not load
torch.
"""

from __future__ import annotations

from lyrebird.core.lazy import lazy_exports

_EXPORTS: dict[str, str] = {
    "FULL": ".grid", "MARBLE": ".grid", "GridResult": ".grid", "GridSpec": ".grid",
    "ProbeConfig": ".grid", "run_grid": ".grid",
    "ProbeOptions": ".options",
    "write_report": ".report",
    "ProbeRun": ".run", "run_probe": ".run",
    "Task": ".tasks", "TaskError": ".tasks", "load_task": ".tasks", "offline_tasks": ".tasks",
    "task_from_table": ".tasks",
}

__all__ = sorted(_EXPORTS)


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
