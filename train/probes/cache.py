"""Features of a task's clips, extracted once and cached on disk.

Layout: ``CACHE/<extractor fingerprint>/<task key>/<feature>.npy`` (``(N, D)`` float32, one
file per layer/feature) plus ``ok.npy`` (``(N,)`` bool: rows that decoded) and ``meta.json``
(extractor, task, skipped rows with reasons). The task key hashes the task's clip list
(``path``, ``start_s``, ``end_s``) so a changed manifest is re-extracted. Writes go to a
temporary directory renamed into place, so an interrupted run never leaves a half cache.

Within one run, clips shared by several tasks (the offline tasks reuse the same demo clips)
are decoded and embedded once (:class:`ClipMemo`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from lyrebird.core.progress import progress
from lyrebird.encoders import AudioError, load_audio

from .features import Extractor
from .tasks import Task

log = logging.getLogger("lyrebird.train")


def task_key(table: pd.DataFrame) -> str:
    """Stable hash of a clip table's ``path``, ``start_s``, ``end_s`` columns."""
    h = hashlib.sha256()
    for p, s, e in zip(table["path"], table["start_s"], table["end_s"], strict=True):
        h.update(f"{p}\t{float(s):.4f}\t{float(e):.4f}\n".encode())
    return h.hexdigest()[:16]


@dataclass
class TaskFeatures:
    """Features of one task's rows.

    Attributes:
        feats: feature name → ``(N, D)`` float32 (rows that failed are zeros).
        ok: ``(N,)`` bool, rows that decoded and embedded.
        skipped: ``"path: reason"`` for each failed row.
        seconds: extraction wall time (0 when read from the cache).
        cached: whether the features came from the disk cache.
    """

    feats: dict[str, np.ndarray]
    ok: np.ndarray
    skipped: list[str]
    seconds: float
    cached: bool


class ClipMemo:
    """In-memory features per ``(fingerprint, path, start, end)`` for one run."""

    def __init__(self) -> None:
        self._d: dict[tuple, dict[str, np.ndarray] | str] = {}

    def get(self, key: tuple) -> dict[str, np.ndarray] | str | None:
        return self._d.get(key)

    def put(self, key: tuple, value: dict[str, np.ndarray] | str) -> None:
        self._d[key] = value


def _extract_rows(ex: Extractor, table: pd.DataFrame, memo: ClipMemo | None, desc: str
                  ) -> tuple[list[dict[str, np.ndarray] | None], list[str]]:
    rows: list[dict[str, np.ndarray] | None] = []
    skipped: list[str] = []
    fp = ex.fingerprint()
    for r in progress(list(table.itertuples(index=False)), desc=desc):
        key = (fp, r.path, round(float(r.start_s), 4), round(float(r.end_s), 4)
               if pd.notna(r.end_s) else None)
        got = memo.get(key) if memo is not None else None
        if got is None:
            try:
                dur = float(r.end_s) - float(r.start_s) if pd.notna(r.end_s) else None
                wav = load_audio(r.path, ex.sample_rate, offset_s=float(r.start_s),
                                 duration_s=dur)
                got = ex(wav)
            except (AudioError, ValueError, RuntimeError) as e:
                got = str(e)
            if memo is not None:
                memo.put(key, got)
        if isinstance(got, str):
            skipped.append(f"{r.path}: {got}")
            rows.append(None)
        else:
            rows.append(got)
    return rows, skipped


def _cache_dir(cache: Path, ex: Extractor, task: Task) -> Path:
    return cache / ex.fingerprint() / f"{task.name}-{task_key(task.table)}"


def _read(d: Path) -> TaskFeatures | None:
    meta = d / "meta.json"
    if not meta.is_file():
        return None
    m = json.loads(meta.read_text())
    feats = {f: np.load(d / f"{f}.npy") for f in m["features"]}
    return TaskFeatures(feats, np.load(d / "ok.npy"), m["skipped"], 0.0, True)


def task_features(ex: Extractor, task: Task, cache: str | os.PathLike | None = None,
                  memo: ClipMemo | None = None) -> TaskFeatures:
    """Features of every row of ``task`` for ``ex``, from ``cache`` when present.

    Rows that fail to decode are skipped (logged, ``ok`` False, listed in ``skipped``);
    ``ValueError`` when no row works.
    """
    d = _cache_dir(Path(cache), ex, task) if cache is not None else None
    if d is not None:
        hit = _read(d)
        if hit is not None and len(hit.ok) == len(task.table):
            return hit
    t0 = time.perf_counter()
    rows, skipped = _extract_rows(ex, task.table, memo, desc=f"{ex.name} · {task.name}")
    ok = np.array([r is not None for r in rows], dtype=bool)
    if not ok.any():
        raise ValueError(f"probe task {task.source}: no clip could be decoded; first errors: "
                         f"{skipped[:3]}")
    for s in skipped:
        log.warning("probe %s: skipped %s", task.name, s)
    first = next(r for r in rows if r is not None)
    feats = {f: np.stack([r[f] if r is not None else np.zeros_like(v) for r in rows])
             for f, v in first.items()}
    out = TaskFeatures(feats, ok, skipped, time.perf_counter() - t0, False)
    if d is not None:
        tmp = d.with_name(d.name + f".tmp{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        for f, v in feats.items():
            np.save(tmp / f"{f}.npy", v)
        np.save(tmp / "ok.npy", ok)
        (tmp / "meta.json").write_text(json.dumps({
            "extractor": ex.name, "fingerprint": ex.fingerprint(), "task": task.name,
            "source": task.source, "rows": len(ok), "features": list(feats), "skipped": skipped,
            "seconds": out.seconds}, indent=1))
        shutil.rmtree(d, ignore_errors=True)
        tmp.rename(d)
    return out
