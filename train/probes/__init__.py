"""Frozen-encoder probe evaluation: tasks, cached features, the JukeMIR grid, baselines, reports.

``lyrebird probe --encoder NAME --tasks key,... --out DIR`` is the command-line entry point;
:func:`run_probe` and :func:`write_report` are the Python one.
"""

from .grid import FULL, MARBLE, GridResult, GridSpec, ProbeConfig, run_grid
from .report import write_report
from .run import ProbeOptions, ProbeRun, run_probe
from .tasks import Task, TaskError, load_task, offline_tasks, task_from_table

__all__ = ["FULL", "MARBLE", "GridResult", "GridSpec", "ProbeConfig", "ProbeOptions", "ProbeRun",
           "Task", "TaskError", "load_task", "offline_tasks", "run_grid", "run_probe",
           "task_from_table", "write_report"]
