"""Probe tasks: a clip table with train/valid/test splits and typed targets.

A task is read from a manifest (parquet/CSV; ``path``, ``start_s``, ``end_s``, ``split`` and a
``label`` column, or a ``labels`` list column for multi-label tagging) — the offline tasks that
``lyrebird data demo`` writes to ``OUT/probes/`` and the benchmark adapters
(:mod:`lyrebird.train.probes.adapters`) both produce this shape. Kinds:

* ``multiclass``: one class per clip (accuracy, macro one-vs-rest ROC-AUC and AP);
* ``key``: 24 keys ``"<tonic> major|minor"`` (weighted key score, accuracy);
* ``multilabel``: tags (macro ROC-AUC, macro AP);
* ``regression``: a number (R²).

Bad manifests raise :class:`TaskError` naming the file and the field (and the first bad rows).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from ..corpora.keys import PC_NAMES, parse_key

log = logging.getLogger("lyrebird.train")

TaskKind = Literal["multiclass", "key", "multilabel", "regression"]
KINDS: tuple[str, ...] = ("multiclass", "key", "multilabel", "regression")
SPLITS: tuple[str, ...] = ("train", "valid", "test")
OFFLINE_TASKS: tuple[str, ...] = ("key", "instrument_family", "pitch", "tempo", "collection",
                                  "tagging")
_KNOWN_KINDS: dict[str, TaskKind] = {"key": "key", "tempo": "regression", "tagging": "multilabel",
                                     "mtt": "multilabel", "emomusic": "regression",
                                     "giantsteps_key": "key"}
PRIMARY: dict[str, str] = {"multiclass": "accuracy", "key": "key_weighted",
                           "multilabel": "roc_auc", "regression": "r2"}
"""The metric each kind is selected on (validation) and ranked by (test)."""


class TaskError(ValueError):
    """A probe manifest that cannot be used; the message names the file and field."""


@dataclass(eq=False)
class Task:
    """One probe task.

    Attributes:
        name: task name (the manifest's stem unless given).
        kind: see the module docstring.
        table: ``path`` (absolute), ``start_s``, ``end_s`` (seconds, NaN = to the end), ``split``,
            and ``work_id`` when the manifest has one.
        y: targets: ``(N,)`` int64 class indices, ``(N, C)`` bool tags, or ``(N,)`` float64.
        classes: class or tag names (empty for regression).
        source: where the task came from (a manifest path or an adapter description).
        dropped: rows left out, with the reason.
    """

    name: str
    kind: TaskKind
    table: pd.DataFrame
    y: np.ndarray
    classes: tuple[str, ...] = ()
    source: str = ""
    dropped: list[str] = field(default_factory=list)

    @property
    def primary(self) -> str:
        """Name of the metric the task is ranked by."""
        return PRIMARY[self.kind]

    def split_index(self, split: str) -> np.ndarray:
        """Row indices of ``split``."""
        return np.flatnonzero(self.table["split"].to_numpy() == split)


def _fail(src: str, what: str) -> TaskError:
    return TaskError(f"probe task '{src}': {what}")


def read_table(path: str | os.PathLike) -> pd.DataFrame:
    """Read a manifest (parquet or CSV) with paths made absolute relative to the manifest."""
    p = Path(path)
    if not p.is_file():
        raise TaskError(f"probe task '{p}': no such manifest file")
    try:
        df = pd.read_parquet(p) if p.suffix == ".parquet" else pd.read_csv(p)
    except Exception as e:
        raise TaskError(f"probe task '{p}': cannot read manifest ({e})") from None
    if "path" in df.columns:
        df = df.copy()
        df["path"] = [str(x if Path(str(x)).is_absolute() else (p.parent / str(x)).resolve())
                      for x in df["path"]]
    return df


def infer_kind(name: str, df: pd.DataFrame) -> TaskKind:
    """Kind from the task name when known, else from the label columns."""
    if name in _KNOWN_KINDS:
        return _KNOWN_KINDS[name]
    if "labels" in df.columns and "label" not in df.columns:
        return "multilabel"
    if "label" in df.columns and pd.api.types.is_float_dtype(df["label"]):
        return "regression"
    return "multiclass"


def task_from_table(df: pd.DataFrame, name: str, kind: TaskKind | None = None,
                    source: str = "") -> Task:
    """Check a clip table and turn its labels into targets (see :class:`Task`).

    Raises :class:`TaskError` naming ``source`` and the offending field/rows.
    """
    src = source or name
    kind = kind or infer_kind(name, df)
    if kind not in KINDS:
        raise _fail(src, f"unknown kind {kind!r}; expected one of {KINDS}")
    label_col = "labels" if kind == "multilabel" else "label"
    missing = [c for c in ("path", "split", label_col) if c not in df.columns]
    if missing:
        raise _fail(src, f"missing column(s) {missing} (has {list(df.columns)})")
    df = df.reset_index(drop=True).copy()
    for c, default in (("start_s", 0.0), ("end_s", np.nan)):
        if c not in df.columns:
            df[c] = default
    bad_split = ~df["split"].isin(SPLITS)
    if bad_split.any():
        rows = np.flatnonzero(bad_split.to_numpy())[:5].tolist()
        raise _fail(src, f"field 'split' must be one of {SPLITS}; bad rows {rows} "
                         f"(e.g. {df['split'].iloc[rows[0]]!r})")
    starts = pd.to_numeric(df["start_s"], errors="coerce")
    if starts.isna().any() or (starts < 0).any():
        rows = np.flatnonzero((starts.isna() | (starts < 0)).to_numpy())[:5].tolist()
        raise _fail(src, f"field 'start_s' must be a number >= 0; bad rows {rows}")
    df["start_s"] = starts.astype(float)
    df["end_s"] = pd.to_numeric(df["end_s"], errors="coerce").astype(float)
    dropped: list[str] = []
    if kind == "multilabel":
        lists = [list(v) if isinstance(v, list | tuple | np.ndarray) else None for v in df[label_col]]
        bad = [i for i, v in enumerate(lists) if v is None]
        if bad:
            raise _fail(src, f"field 'labels' must hold lists of tags; bad rows {bad[:5]}")
        classes = tuple(sorted({str(t) for i in df.index[df["split"] == "train"] for t in lists[i]}))
        idx = {t: j for j, t in enumerate(classes)}
        y = np.zeros((len(df), len(classes)), dtype=bool)
        for i, tags in enumerate(lists):
            for t in tags:
                if str(t) in idx:
                    y[i, idx[str(t)]] = True
    elif kind == "regression":
        vals = pd.to_numeric(df[label_col], errors="coerce")
        bad = np.flatnonzero(~np.isfinite(vals.to_numpy(dtype=float)))
        if len(bad):
            dropped += [f"row {i}: field 'label' is not a finite number" for i in bad]
            keep = np.isfinite(vals.to_numpy(dtype=float))
            df, vals = df[keep].reset_index(drop=True), vals[keep].reset_index(drop=True)
        y, classes = vals.to_numpy(dtype=np.float64), ()
    else:
        labels = df[label_col].astype(str)
        if kind == "key":  # canonical spelling, so "Db major" and "C# major" are one class
            canon = []
            for i, lab in enumerate(labels):
                try:
                    tonic, mode = parse_key(lab)
                except ValueError as e:
                    raise _fail(src, f"field 'label', row {i}: {e}") from None
                canon.append(f"{PC_NAMES[tonic]} {mode}")
            labels = pd.Series(canon, index=labels.index)
        classes = tuple(sorted(set(labels[df["split"] == "train"])))
        if kind == "key":  # all 24 keys: a key unseen in train still earns partial credit
            classes = tuple(sorted(f"{t} {m}" for t in PC_NAMES for m in ("major", "minor")))
        unseen = ~labels.isin(classes).to_numpy()
        if unseen.any():
            dropped += [f"row {i}: class {labels.iloc[i]!r} not in the train split"
                        for i in np.flatnonzero(unseen)]
            df, labels = df[~unseen].reset_index(drop=True), labels[~unseen].reset_index(drop=True)
        y = np.searchsorted(np.array(classes), labels.to_numpy()).astype(np.int64)
    counts = {s: int((df["split"] == s).sum()) for s in SPLITS}
    if counts["train"] == 0 or counts["test"] == 0:
        raise _fail(src, f"needs rows in the train and test splits (field 'split'); got {counts}")
    if kind in ("multiclass", "key") and len(classes) < 2:
        raise _fail(src, f"field 'label' has {len(classes)} class(es) in train; need >= 2")
    if kind == "multilabel" and not classes:
        raise _fail(src, "field 'labels' has no tags in the train split")
    if dropped:
        log.warning("probe task %s: dropped %d row(s), e.g. %s", src, len(dropped), dropped[0])
    table = df[[c for c in ("path", "start_s", "end_s", "split", "work_id")
                if c in df.columns]].copy()
    return Task(name=name, kind=kind, table=table, y=y, classes=classes, source=src,
                dropped=dropped)


def load_task(manifest: str | os.PathLike, name: str | None = None,
              kind: TaskKind | None = None) -> Task:
    """Read one probe manifest (parquet/CSV) into a :class:`Task`."""
    p = Path(manifest)
    df = read_table(p)
    return task_from_table(df, name or p.stem, kind, source=str(p))


def seen_works(manifests: list[str | os.PathLike]) -> set[str]:
    """``work_id`` s an encoder was pretrained on: those with any clip outside the ``test``
    split of its pretraining ``manifests`` (every clip when a manifest has no ``split``)."""
    seen: set[str] = set()
    for m in manifests:
        df = read_table(m)
        if "work_id" not in df.columns:
            raise TaskError(f"pretraining manifest '{m}': no 'work_id' column")
        used = df if "split" not in df.columns else df[df["split"] != "test"]
        seen.update(used["work_id"].dropna().astype(str))
    return seen


def drop_seen_test_works(task: Task, seen: set[str]) -> Task:
    """``task`` without the test clips whose ``work_id`` is in ``seen`` (see
    :func:`seen_works`); the dropped rows are listed in ``dropped``. Needs a ``work_id`` column
    in the task's table when ``seen`` is not empty.
    """
    if not seen:
        return task
    if "work_id" not in task.table.columns:
        raise TaskError(f"probe task {task.source or task.name}: no 'work_id' column, so test "
                        "works seen in pretraining cannot be dropped")
    drop = (task.table["split"].to_numpy() == "test") & task.table["work_id"].astype(str).isin(
        seen).to_numpy()
    if not drop.any():
        return task
    if drop.sum() == (task.table["split"] == "test").sum():
        raise TaskError(f"probe task {task.source or task.name}: every test work was seen in "
                        "pretraining; nothing left to test on")
    keep = ~drop
    return Task(task.name, task.kind, task.table[keep].reset_index(drop=True), task.y[keep],
                task.classes, f"{task.source} (test works unseen in pretraining)",
                [*task.dropped, f"{int(drop.sum())} test clips: work seen in pretraining"])


def offline_tasks(probes_dir: str | os.PathLike, names: tuple[str, ...] = OFFLINE_TASKS
                  ) -> list[Task]:
    """The offline tasks under ``probes_dir`` (``lyrebird data demo --out D`` → ``D/probes``)."""
    return [load_task(Path(probes_dir) / f"{n}.parquet") for n in names]
