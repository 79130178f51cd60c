"""``lyrebird data demo``: build the music–text demo corpus (rendered scores + procedural).

Pipeline: plan tasks (one score item or one procedural piece each, deterministic given the
seed) → render them in worker processes (fluidsynth in-process, fixed-length clips, FLAC) →
assemble the manifest (splits by work, tags, captions in en/de/fr/es) → probe tasks.

Every finished task is saved under ``OUT/parts/``, so an interrupted build resumes where it
stopped, and re-running a complete build returns at once.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import pandas as pd

from lyrebird.core.atomic import replaced_on_success
from lyrebird.core.fingerprint import stable_hash

from .captions import compose_captions
from .manifest import require_rows, write_manifest
from .procedural import GENERATORS
from .splits import allocate, assign_splits
from .tags import tags_for

log = logging.getLogger("lyrebird.data")

DEFAULT_MIX: tuple[tuple[str, float], ...] = (
    ("essen", 0.20), ("oneills", 0.14), ("ryans", 0.12), ("bach_chorales", 0.09),
    ("palestrina", 0.09), ("monteverdi", 0.04), ("trecento", 0.04), ("quartets", 0.05),
    ("drum_grooves", 0.07), ("electronic", 0.07), ("rock", 0.06), ("ambient", 0.03),
)
"""Share of clips per collection (music21 collections, then procedural ones)."""

BUILD_VERSION = 3  # bump when the output of a given config changes
SILENCE_DBFS = -80.0  # a raw render quieter than this is dropped (then levelled otherwise)
DEFAULT_OUT = Path("data/demo")


@dataclass(frozen=True)
class DemoConfig:
    """Settings of a demo-corpus build. All but ``workers`` and ``item_timeout_s`` determine
    the output (they form the fingerprint checked when resuming)."""

    clips: int = 3200  # total clips wanted
    clip_s: float = 10.0  # clip length, seconds (the shortest with max_clip_s)
    max_clip_s: float | None = None  # set: whole pieces of clip_s..max_clip_s s (app library)
    clips_per_work: int | None = None  # clips cut from one score item; None: per collection
    seed: int = 0
    sample_rate: int = 22050  # Hz of the FLAC files
    soundfont: str | None = None  # None: $LYREBIRD_SOUNDFONT or the Debian GM soundfont
    mix: tuple[tuple[str, float], ...] = DEFAULT_MIX
    split_fractions: tuple[float, float, float] = (0.8, 0.1, 0.1)  # train, valid, test
    captions_per_lang: int = 2
    probes: bool = True  # also build the probe tasks (probe_tasks.py)
    pitch_instruments: int = 24  # instruments rendered for the single-note pitch task
    workers: int = 2  # processes
    item_timeout_s: float = 120.0  # a work taking longer is skipped

    def fingerprint(self) -> str:
        d = asdict(self)
        for k in ("workers", "item_timeout_s"):
            d.pop(k)
        return format(stable_hash(BUILD_VERSION, json.dumps(d, sort_keys=True)), "016x")


@dataclass(frozen=True)
class Task:
    """One unit of work: a music21 item (``ref``) or a procedural piece (``index``)."""

    collection: str
    n_clips: int
    ref: Any = None  # music21_source.WorkRef
    index: int = -1

    @property
    def key(self) -> str:
        what = self.ref.item_id if self.ref is not None else str(self.index)
        return f"{self.collection}-{stable_hash(self.collection, what):016x}"

    @property
    def source(self) -> str:
        return (f"music21:{self.ref.item_id}" if self.ref is not None
                else f"procedural:{self.collection}:{self.index}")


@dataclass
class BuildReport:
    """What a build did; saved as ``OUT/build.json`` and printed by the CLI."""

    out: str
    manifest: str
    fingerprint: str
    config: dict[str, Any]
    clips: int = 0
    works: int = 0
    collections: dict[str, int] = field(default_factory=dict)
    splits: dict[str, int] = field(default_factory=dict)
    skipped: list[dict[str, str]] = field(default_factory=list)
    skipped_reasons: dict[str, int] = field(default_factory=dict)
    tasks_run: int = 0
    tasks_cached: int = 0
    seconds: float = 0.0
    cached: bool = False
    complete: bool = False
    probes: dict[str, Any] = field(default_factory=dict)


def _task_order(collection: str, seed: int, per_item: int | None = None) -> Iterator[Task]:
    """Tasks of a collection in build order: works shuffled by seed, one item per work per
    round, so the corpus spreads over as many works as possible."""
    if collection in GENERATORS:
        i = 0
        while True:
            yield Task(collection, 1, index=i)
            i += 1
    from .music21_source import COLLECTIONS, catalogue

    spec = COLLECTIONS[collection]
    groups: dict[str, list] = defaultdict(list)
    for ref in catalogue(collection):
        groups[ref.group].append(ref)
    order = sorted(groups, key=lambda g: stable_hash(seed, g))
    for g in order:
        groups[g].sort(key=lambda r: stable_hash(seed, r.item_id))
    rnd = 0
    while True:
        took = False
        for g in order:
            if rnd < len(groups[g]):
                took = True
                yield Task(collection, per_item or spec.clips_per_item, ref=groups[g][rnd])
        if not took:
            return
        rnd += 1


# ---------------------------------------------------------------- worker side
def _worker_init(sample_rate: int, soundfont: str | None) -> None:
    """Import the heavy modules once per worker and check the synthesiser works."""
    from . import arrange, music21_source  # noqa: F401
    from .render import RenderConfig, Renderer

    Renderer(RenderConfig(sample_rate=sample_rate, soundfont=soundfont)).close()


class _Timeout(Exception):
    pass


@contextmanager
def _time_limit(seconds: float):
    """Raise _Timeout after ``seconds`` of wall time (main thread of a process only)."""
    import threading

    if seconds <= 0 or threading.current_thread() is not threading.main_thread():
        yield
        return

    def _raise(signum, frame):
        raise _Timeout()

    old = signal.signal(signal.SIGALRM, _raise)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def run_task(task: Task, out: str, cfg: DemoConfig) -> dict[str, Any]:
    """Render one task's clips into ``out``; returns ``{"rows": [...], "skipped": [...]}``.

    Never raises for a bad work: the reason goes to ``skipped``. The result is also saved as
    ``out/parts/<task.key>.json``.
    """
    from .arrange import arrange
    from .render import RenderConfig, Renderer, rms_dbfs, set_level, write_flac

    rows: list[dict[str, Any]] = []
    skipped: list[dict[str, str]] = []
    t0 = time.monotonic()
    try:
        with _time_limit(cfg.item_timeout_s):
            if task.ref is not None:
                from .music21_source import load_piece

                piece = load_piece(task.ref)
            else:
                piece = GENERATORS[task.collection](task.index, cfg.seed)
            plans = arrange(piece, task.n_clips, clip_s=cfg.clip_s, seed=cfg.seed,
                            max_clip_s=cfg.max_clip_s)
            if not plans:
                skipped.append({"source": task.source, "collection": task.collection,
                                "reason": "too short or no notes for a full clip"})
            # a fresh synthesiser per task: bit-identical audio whatever ran before
            with Renderer(RenderConfig(sample_rate=cfg.sample_rate,
                                       soundfont=cfg.soundfont)) as renderer:
                renders = [renderer.render(p.notes, p.programs, p.duration_s,
                                           start_s=p.offset_s, room=p.room) for p in plans]
            for plan, wav in zip(plans, renders, strict=True):
                if rms_dbfs(wav) < SILENCE_DBFS:
                    skipped.append({"source": f"{task.source}@{plan.offset_s:.1f}s",
                                    "collection": task.collection,
                                    "reason": f"rendered audio is silent (< {SILENCE_DBFS} dBFS)"})
                    continue
                wav, _ = set_level(wav, plan.level_dbfs)
                rel = f"audio/{task.collection}/{plan.clip_id}.flac"
                write_flac(Path(out) / rel, wav, cfg.sample_rate)
                rows.append(dict(plan.labels, clip_id=plan.clip_id, path=rel, start_s=0.0,
                                 end_s=float(plan.duration_s),
                                 level_dbfs=round(rms_dbfs(wav), 2),
                                 sample_rate=cfg.sample_rate))
    except _Timeout:
        rows = []
        skipped.append({"source": task.source, "collection": task.collection,
                        "reason": f"timed out after {cfg.item_timeout_s:.0f} s"})
    except Exception as err:
        rows = []
        reason = str(err).splitlines()[0][:300] if str(err) else type(err).__name__
        skipped.append({"source": task.source, "collection": task.collection,
                        "reason": f"{type(err).__name__}: {reason}"})
    result = {"task": task.key, "rows": rows, "skipped": skipped,
              "seconds": round(time.monotonic() - t0, 3)}
    part = Path(out) / "parts" / f"{task.key}.json"
    part.parent.mkdir(parents=True, exist_ok=True)
    with replaced_on_success(part) as tmp:
        Path(tmp).write_text(json.dumps(result, default=str))
    return result


# ---------------------------------------------------------------- main side
def _run_round(tasks: list[Task], out: Path, cfg: DemoConfig, results: dict[str, dict],
               report: BuildReport) -> None:
    """Run ``tasks`` (loading saved parts instead where present) into ``results``."""
    from lyrebird.core.progress import progress

    todo = []
    for t in tasks:
        part = out / "parts" / f"{t.key}.json"
        if part.is_file():
            try:
                results[t.key] = json.loads(part.read_text())
                report.tasks_cached += 1
                continue
            except json.JSONDecodeError:
                pass
        todo.append(t)
    if not todo:
        return
    report.tasks_run += len(todo)
    _worker_init(cfg.sample_rate, cfg.soundfont)  # fail fast, saying what to install
    if cfg.workers <= 1:
        for t in progress(todo, desc="demo corpus"):
            results[t.key] = run_task(t, str(out), cfg)
        return
    ctx = get_context("spawn")
    with ProcessPoolExecutor(cfg.workers, mp_context=ctx, initializer=_worker_init,
                             initargs=(cfg.sample_rate, cfg.soundfont)) as pool:
        futs = {pool.submit(run_task, t, str(out), cfg): t for t in todo}
        for fut in progress(as_completed(futs), total=len(futs), desc="demo corpus"):
            t = futs[fut]
            try:
                results[t.key] = fut.result()
            except Exception as err:
                results[t.key] = {"rows": [], "skipped": [{
                    "source": t.source, "collection": t.collection,
                    "reason": f"worker failed: {type(err).__name__}: {err}"}]}


def _assemble(results: dict[str, dict], order: dict[str, list[Task]], targets: dict[str, int],
              cfg: DemoConfig) -> tuple[pd.DataFrame, list[dict[str, str]]]:
    """Rows in task order, trimmed to the targets, with splits, tags and captions."""
    rows: list[dict[str, Any]] = []
    skipped: list[dict[str, str]] = []
    for coll, tasks in order.items():
        kept = 0
        for t in tasks:
            res = results.get(t.key, {"rows": [], "skipped": []})
            skipped += res["skipped"]
            for r in res["rows"]:
                if kept < targets[coll]:
                    rows.append(r)
                    kept += 1
    first_coll: dict[str, str] = {}
    for r in rows:
        first_coll.setdefault(r["work_id"], r["collection"])
    splits = assign_splits(first_coll, cfg.seed, cfg.split_fractions)
    for r in rows:
        r["split"] = splits[r["work_id"]]
        r["tags"] = tags_for(r)
        r["captions"] = compose_captions(r, seed=cfg.seed, per_lang=cfg.captions_per_lang)
        r.pop("extra_tags", None)
    df = pd.DataFrame(require_rows(rows, skipped, "demo corpus"))
    lead = ["clip_id", "path", "start_s", "end_s", "split", "work_id", "collection", "captions",
            "tags"]
    df = df[lead + [c for c in df.columns if c not in lead]]
    return df.sort_values("clip_id", kind="stable").reset_index(drop=True), skipped


def build_demo_corpus(out: str | os.PathLike = DEFAULT_OUT, config: DemoConfig = DemoConfig(),
                      *, force: bool = False) -> BuildReport:
    """Build (or resume, or return the cached) demo corpus under ``out``.

    Writes ``out/manifest.parquet``, ``out/audio/<collection>/*.flac``, ``out/build.json`` and,
    with ``config.probes``, ``out/probes/``. Deterministic given ``config`` (not ``workers``).

    Raises:
        ValueError: ``out`` holds a build with a different configuration (use ``force``).
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    fp = config.fingerprint()
    manifest = out / "manifest.parquet"
    report_path = out / "build.json"
    stamp = out / "config.json"
    if stamp.is_file():
        old = json.loads(stamp.read_text())
        if old.get("fingerprint") != fp and not force:
            raise ValueError(f"'{out}' holds a corpus built with other settings "
                             f"({old.get('config')}); choose another --out or pass --force")
        if old.get("fingerprint") != fp:
            import shutil

            for sub in ("parts", "audio", "probes"):
                shutil.rmtree(out / sub, ignore_errors=True)
            for f in (manifest, report_path):
                f.unlink(missing_ok=True)
    if report_path.is_file() and manifest.is_file() and not force:
        rep = json.loads(report_path.read_text())
        if rep.get("fingerprint") == fp and rep.get("complete"):
            # where it is now, not where (or from which folder) it was built
            rep.update(cached=True, out=str(out), manifest=str(manifest))
            return BuildReport(**rep)
    stamp.write_text(json.dumps({"fingerprint": fp, "config": asdict(config)}, default=str))
    t0 = time.monotonic()
    report = BuildReport(out=str(out), manifest=str(manifest), fingerprint=fp,
                         config=asdict(config))
    targets = allocate(config.clips, config.mix)
    iters = {c: _task_order(c, config.seed, config.clips_per_work) for c in targets if targets[c]}
    order: dict[str, list[Task]] = {c: [] for c in iters}
    results: dict[str, dict] = {}
    for _ in range(6):  # rounds: schedule what is still missing after skips
        batch = []
        for coll, it in iters.items():
            have = sum(len(results[t.key]["rows"]) for t in order[coll] if t.key in results)
            planned = sum(t.n_clips for t in order[coll] if t.key not in results)
            while have + planned < targets[coll]:
                t = next(it, None)
                if t is None:
                    break
                order[coll].append(t)
                batch.append(t)
                planned += t.n_clips
        if not batch:
            break
        log.debug("demo corpus: rendering %d tasks", len(batch))
        _run_round(batch, out, config, results, report)
    df, skipped = _assemble(results, order, targets, config)
    write_manifest(df, manifest)
    report.clips = len(df)
    report.works = int(df["work_id"].nunique()) if len(df) else 0
    report.collections = {k: int(v) for k, v in df["collection"].value_counts().sort_index().items()}
    report.splits = {k: int(v) for k, v in df["split"].value_counts().sort_index().items()}
    report.skipped = skipped
    report.skipped_reasons = dict(Counter(_reason_kind(s["reason"]) for s in skipped).most_common())
    short = {c: targets[c] - report.collections.get(c, 0) for c in targets
             if report.collections.get(c, 0) < targets[c]}
    if short:
        log.warning("demo corpus: fewer clips than planned: %s", short)
    if config.probes:
        from .probe_tasks import build_probe_tasks

        report.probes = build_probe_tasks(manifest, out / "probes", seed=config.seed,
                                          sample_rate=config.sample_rate,
                                          soundfont=config.soundfont,
                                          pitch_instruments=config.pitch_instruments)
    report.seconds = round(time.monotonic() - t0, 1)
    report.complete = True
    report_path.write_text(json.dumps(asdict(report), indent=1, default=str))
    return report


def _reason_kind(reason: str) -> str:
    """Group skip reasons for the summary (drop the per-item details)."""
    head = reason.split("(")[0].split(":")[0].strip()
    return head[:80] or "unknown"
