"""Frozen-encoder probe evaluation: tasks, cached features, the JukeMIR grid, baselines, reports.

``lyrebird probe --encoder NAME --tasks key,... --out DIR`` is the command-line entry point
(:func:`~.pipeline.probe_encoders`); :func:`run_probe` and :func:`write_report` are the Python
one. Names load on first use, so the light :mod:`.options` (``ProbeOptions``) does not load
torch.
"""

from __future__ import annotations

import importlib
from typing import Any

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


def __getattr__(name: str) -> Any:
    where = _EXPORTS.get(name)
    if where is None:
        raise AttributeError(f"module 'lyrebird.train.probes' has no attribute {name!r}")
    value = getattr(importlib.import_module(where, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
