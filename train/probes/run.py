"""A probe run: every extractor (encoders, their random-init twins, hand-crafted features) on
every task, with the grid on the main embedding and a fast probe per layer.

Tasks that cannot be loaded or embedded are skipped and reported, and the run goes on.
"""

from __future__ import annotations

import logging
import os
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from lyrebird.core.model_spec import parse_spec

from .cache import ClipMemo, task_features
from .features import (
    BASELINES,
    EncoderEmbedding,
    HandcraftedExtractor,
    encoder_extractor,
    random_init_encoder,
    random_init_label,
    random_init_name,
)
from .grid import FULL, MARBLE, GridResult, GridSpec, run_grid
from .metrics import (
    accuracy,
    average_precision_macro,
    key_weighted,
    one_hot,
    r2,
    roc_auc_macro,
)
from .options import ProbeOptions
from .paired import paired_bootstrap
from .tasks import Task

log = logging.getLogger("lyrebird.train")


def grid_spec(opts: ProbeOptions, name: str | None = None) -> GridSpec:
    """The grid ``name`` (default ``opts.grid``: ``"full"`` or ``"marble"``) with the run's
    early-stopping schedule."""
    base = {"full": FULL, "marble": MARBLE}[name or opts.grid]
    return replace(base, max_epochs=opts.max_epochs, patience=opts.patience,
                   halving=base.halving if opts.halving else ())


@dataclass
class ProbeRun:
    """Everything a report needs (see :mod:`lyrebird.train.probes.report`)."""

    rows: list[dict] = field(default_factory=list)
    layer_rows: list[dict] = field(default_factory=list)
    tsne: dict[str, dict[str, tuple[np.ndarray, np.ndarray]]] = field(default_factory=dict)
    tasks: dict[str, dict] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    hardware: dict = field(default_factory=dict)
    seconds: float = 0.0
    options: dict = field(default_factory=dict)
    comparisons: list[dict] = field(default_factory=list)


def hardware() -> dict:
    """CPU model, cores, torch threads and versions."""
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    from lyrebird.core.device import cpu_bf16_native

    return {"cpu": cpu, "cores": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "torch": torch.__version__, "python": platform.python_version(),
            "platform": platform.platform(), "bf16_probes": cpu_bf16_native(),
            "cuda": torch.cuda.is_available()}


def test_metrics(task: Task, y_test: np.ndarray, out: np.ndarray,
                 primary_only: bool = False) -> dict[str, float]:
    """Test metrics of a probe's outputs ``(N, C)`` for the task's kind (only the task's
    primary metric with ``primary_only``, e.g. inside a bootstrap)."""
    if task.kind == "regression":
        return {"r2": r2(y_test, out[:, 0])}
    if task.kind == "multilabel":
        res = {"roc_auc": roc_auc_macro(y_test, out)}
        if not primary_only:
            res["ap"] = average_precision_macro(y_test, out)
        return res
    pred = out.argmax(1)
    res = {"accuracy": accuracy(pred, y_test)}
    if primary_only and task.kind != "key":
        return res
    if task.kind == "key":
        res["key_weighted"] = key_weighted([task.classes[i] for i in pred],
                                           [task.classes[i] for i in y_test])
    else:
        prob = torch.softmax(torch.from_numpy(out).double(), 1).numpy()
        yh = one_hot(y_test, len(task.classes))
        res["roc_auc"] = roc_auc_macro(yh, prob)
        res["ap"] = average_precision_macro(yh, prob)
    return res


def probe_feature(task: Task, feats: np.ndarray, ok: np.ndarray, spec: GridSpec
                  ) -> tuple[GridResult, dict[str, float], dict[str, int]]:
    """Grid on one feature matrix ``(N, D)`` of ``task`` (rows with ``ok`` False left out)."""
    idx = {s: task.split_index(s) for s in ("train", "valid", "test")}
    idx = {s: i[ok[i]] for s, i in idx.items()}
    x = {s: feats[i] for s, i in idx.items()}
    y = {s: task.y[i] for s, i in idx.items()}
    res = run_grid(x, y, task.kind, task.classes, spec)
    return res, test_metrics(task, y["test"], res.test_out), {s: len(i) for s, i in idx.items()}


def make_extractors(encoders: list[str], baselines: bool) -> list[tuple[object, str]]:
    """(extractor, role) for every encoder, its random-init twin and the hand-crafted
    features; roles are ``encoder``, ``random-init`` and ``hand-crafted``."""
    out: list[tuple[object, str]] = []
    seen: set[str] = set()
    for name in encoders:
        ex = encoder_extractor(name)
        role = ("random-init" if random_init_name(name) == parse_spec(name, "encoder").name
                else "encoder")
        out.append((ex, role))
        seen.add(ex.fingerprint())
    if baselines:
        for name in encoders:
            r = random_init_encoder(name)
            if r is not None and r.fingerprint() not in seen:
                out.append((r, "random-init"))
                seen.add(r.fingerprint())
        out += [(HandcraftedExtractor(k), "hand-crafted") for k in BASELINES]
    return out


def run_probe(encoders: list[str], tasks: list[Task], opts: ProbeOptions = ProbeOptions(),
              on_row: Callable[[dict], None] | None = None) -> ProbeRun:
    """Probe every extractor on every task; see :class:`ProbeRun`."""
    t0 = time.perf_counter()
    run = ProbeRun(hardware=hardware(), options={
        "grid": opts.grid, "layers": opts.layers, "baselines": opts.baselines,
        "max_epochs": opts.max_epochs, "patience": opts.patience, "halving": opts.halving,
        "n_configs": len(grid_spec(opts).configs())})
    for t in tasks:
        run.tasks[t.name] = {"kind": t.kind, "primary": t.primary, "source": t.source,
                             "rows": len(t.table), "classes": len(t.classes),
                             "dropped": len(t.dropped)}
    memo = ClipMemo()
    extractors = make_extractors(encoders, opts.baselines)
    test_out: dict[tuple[str, str], tuple[np.ndarray, np.ndarray]] = {}  # (ex, task) → (idx, out)
    for ex, role in extractors:
        for task in tasks:
            if ex.name == "chroma" and task.kind != "key":
                continue  # chroma is the key baseline
            try:
                tf = task_features(ex, task, opts.cache_dir, memo)
            except (ValueError, OSError) as e:
                run.errors.append(f"{ex.name} · {task.name}: {e}")
                log.error("probe: skipping %s on %s: %s", ex.name, task.name, e)
                continue
            res, metrics, n = probe_feature(task, tf.feats["embed"], tf.ok, grid_spec(opts))
            row = {"extractor": ex.name, "role": role, "task": task.name, "kind": task.kind,
                   "feature": "embed", "protocol": opts.grid, "metric": task.primary,
                   "score": metrics[task.primary], **{f"test_{k}": v for k, v in metrics.items()},
                   "valid": res.valid, "best_config": res.best.__dict__,
                   "best_epoch": res.best_epoch, "n_configs": len(res.valid_scores),
                   "grid_s": round(res.seconds, 2), "extract_s": round(tf.seconds, 2),
                   "cached": tf.cached, "dim": int(tf.feats["embed"].shape[1]),
                   "skipped": len(tf.skipped), **{f"n_{k}": v for k, v in n.items()}}
            run.rows.append(row)
            te = task.split_index("test")
            test_out[ex.name, task.name] = (te[tf.ok[te]], res.test_out)
            if on_row:
                on_row(row)
            if opts.tsne_points and task.kind in ("multiclass", "key"):
                te = task.split_index("test")
                te = te[tf.ok[te]][: opts.tsne_points]
                run.tsne.setdefault(task.name, {})[ex.name] = (tf.feats["embed"][te], task.y[te])
            if opts.layers and role != "hand-crafted":
                layer_names = sorted((f for f in tf.feats if f.startswith("layer")),
                                     key=lambda f: int(f[5:]))
                for f in layer_names:
                    lres, lm, _ = probe_feature(task, tf.feats[f], tf.ok, grid_spec(opts, "marble"))
                    run.layer_rows.append({"extractor": ex.name, "role": role,
                                           "task": task.name, "layer": int(f[5:]),
                                           "metric": task.primary, "score": lm[task.primary],
                                           "valid": lres.valid, "grid_s": round(lres.seconds, 2)})
    run.comparisons = twin_comparisons(extractors, tasks, test_out)
    run.seconds = time.perf_counter() - t0
    return run


def twin_comparisons(extractors: list[tuple[object, str]], tasks: list[Task],
                     test_out: dict[tuple[str, str], tuple[np.ndarray, np.ndarray]],
                     n_boot: int = 1000) -> list[dict]:
    """Each encoder against its random-init twin, per task: a paired bootstrap of the
    primary-metric difference over the test clips both scored (see :mod:`.paired`)."""
    names = {ex.name for ex, _ in extractors}
    rows = []
    for ex, role in extractors:
        if role != "encoder" or not isinstance(ex, EncoderEmbedding):
            continue
        base = random_init_name(ex.spec)
        twin = next((n for n in (random_init_label(base), base) if n in names), None)
        if base is None or twin is None or twin == ex.name:
            continue
        for task in tasks:
            if (ex.name, task.name) not in test_out or (twin, task.name) not in test_out:
                continue
            (ia, oa), (ib, ob) = test_out[ex.name, task.name], test_out[twin, task.name]
            common, ka, kb = np.intersect1d(ia, ib, return_indices=True)
            if len(common) == 0:
                continue

            def metric(y: np.ndarray, out: np.ndarray, task: Task = task) -> float:
                return test_metrics(task, y, out, primary_only=True)[task.primary]

            d = paired_bootstrap(metric, task.y[common], oa[ka], ob[kb], n_boot=n_boot)
            rows.append({"encoder": ex.name, "baseline": twin, "task": task.name,
                         "metric": task.primary, **d.to_dict()})
    return rows
