"""``lyrebird bench index --files``: ingestion of real recordings, per stage and side by side.

* :func:`stage_table`: one serial ``Library.add`` (``workers=0``) with a timer around each
  stage (decode, resample, windowing, mel, encoder, heads, the tag student, stored top tags,
  segment vectors, SQLite, FAISS); seconds and × real time per stage, so the biggest cost is
  plain.
* :func:`compare_ingest`: whole ``Library.add`` runs of the same files under several settings
  (the previous path: serial, 5 s hop; the new default: worker threads, the shipped hop),
  alternated round-robin in one process so that machine load hits them alike; × real time and
  the ratio to the first setting.

Real files: :func:`installed_files` lists the recordings Debian game packages install.
"""

from __future__ import annotations

import subprocess
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import soundfile as sf

PACKAGES = ("fretsonfire-songs-muldjord", "lordsawar-data", "biniax2-data", "amoebax-data")
"""Debian packages whose installed recordings are the benchmark's real files."""

STAGES = ("decode", "resample", "window", "mel", "encoder", "heads", "tag student", "tags",
          "segment vectors", "SQLite", "FAISS")


def installed_files(packages: tuple[str, ...] = PACKAGES) -> list[Path]:
    """Audio files (ogg, mp3, wav, flac) installed by ``packages`` (``dpkg -L``); ``[]`` when
    none is installed."""
    out = subprocess.run(["dpkg", "-L", *packages], capture_output=True, text=True).stdout
    return sorted(Path(p) for p in out.splitlines()
                  if p.lower().endswith((".ogg", ".mp3", ".wav", ".flac")) and Path(p).is_file())


def audio_seconds(files: list[Path]) -> float:
    """Total duration of ``files`` in seconds (headers only)."""
    return sum(sf.info(str(f)).duration for f in files)


@contextmanager
def _timers() -> Iterator[dict[str, float]]:
    """Patch each stage's function with an accumulating timer → ``{stage: seconds}``. SQLite is
    what :meth:`LibraryWriter.commit <lyrebird.index.writer.LibraryWriter.commit>` spends
    besides the zero-shot tags and the FAISS publish it runs (rows inserted, then COMMIT)."""
    import soxr

    from lyrebird.encoders import audio, pooling
    from lyrebird.encoders.myna import MynaEncoder
    from lyrebird.index import indexes, ingest, model
    from lyrebird.index.writer import LibraryWriter
    from lyrebird.mulan.tag_student import TagStudent
    from lyrebird.mulan.towers import AudioTower

    acc: dict[str, float] = defaultdict(float)
    # the track vector's pooling: imported by ingest, or from pooling when ingest calls it
    # (torch imported lazily); not pooling's own name otherwise (the towers pool with it too)
    mean_home = ingest if hasattr(ingest, "weighted_mean") else pooling

    def timed(stage: str, fn: Callable) -> Callable:
        def run(*a, **k):
            t0 = time.perf_counter()
            try:
                return fn(*a, **k)
            finally:
                acc[stage] += time.perf_counter() - t0
        return run

    def timed_gen(stage: str, fn: Callable) -> Callable:
        def run(*a, **k):
            it = fn(*a, **k)
            while True:
                t0 = time.perf_counter()
                try:
                    x = next(it)
                except StopIteration:
                    acc[stage] += time.perf_counter() - t0
                    return
                acc[stage] += time.perf_counter() - t0
                yield x
        return run

    patches = [(audio, "_read", "decode", timed),
               (soxr.ResampleStream, "resample_chunk", "resample", timed),
               (ingest, "stream_chunks", "_stream", timed_gen),
               (MynaEncoder, "mel", "mel", timed),
               (MynaEncoder, "encode_mel", "encoder", timed),
               (AudioTower, "head", "heads", timed),
               (TagStudent, "segment_probs", "tag student", timed),
               (model.ModelHandle, "stored_tags", "tags", timed),
               (mean_home, "weighted_mean", "segment vectors", timed),
               (LibraryWriter, "commit", "_commit", timed),
               (indexes.LibraryIndexes, "publish", "FAISS", timed)]
    saved = [(obj, name, getattr(obj, name)) for obj, name, _, _ in patches]
    try:
        for obj, name, stage, wrap in patches:
            setattr(obj, name, wrap(stage, getattr(obj, name)))
        yield acc
    finally:
        for obj, name, fn in saved:
            setattr(obj, name, fn)
    acc["window"] = max(0.0, acc.pop("_stream", 0.0) - acc["decode"] - acc["resample"])
    acc["SQLite"] = max(0.0, acc.pop("_commit", 0.0) - acc["FAISS"] - acc["tags"])


@contextmanager
def _no_tag_student() -> Iterator[None]:
    """Ingestion as before the tag student (the model's ``tag_segments`` answers ``None``)."""
    from lyrebird.index.model import MuLanModel

    saved = MuLanModel.tag_segments
    MuLanModel.tag_segments = lambda self, audio, valid: None
    try:
        yield
    finally:
        MuLanModel.tag_segments = saved


def _add(files: list[Path], model: str, hop_s: float, workers: int,
         on_ready: Callable[[], None] | None = None, student: bool = True) -> tuple[float, int]:
    """Wall seconds of ``Library.add`` of ``files`` into a new library, and the tracks added;
    ``on_ready()`` runs after the warm-up (the model, its tag prompts, one audio query), just
    before the timed add; ``student=False``: without the model's tag student."""
    if not student:
        with _no_tag_student():
            return _add(files, model, hop_s, workers, on_ready)
    import numpy as np

    from lyrebird.index import Library

    with tempfile.TemporaryDirectory() as d:
        music = Path(d) / "music"
        music.mkdir()
        for i, f in enumerate(files):  # links: one folder, as `index add FOLDER` sees it
            (music / f"{i:03d}-{f.name}").symlink_to(f)
        lib = Library.create(Path(d) / "lib", model, hop_s=hop_s)
        lib.reader.warm_up()  # the model and its tag prompts: not part of the timed add
        sr = lib.model.SAMPLE_RATE  # nor the first pass through the audio tower
        lib.audio_vector(0.1 * np.sin(np.arange(10 * sr, dtype=np.float32) * 0.05), sr)
        if on_ready is not None:
            on_ready()
        t0 = time.perf_counter()
        rep = lib.add([music], workers=workers)
        dt = time.perf_counter() - t0
        lib.close()
    return dt, len(rep.added)


def stage_table(files: list[Path], model: str = "default", hop_s: float = 10.0) -> dict:
    """A serial ``add`` of ``files`` with per-stage timers → ``{"wall_s", "audio_s",
    "stages": {stage: seconds}}`` (``other`` = wall − stages: hashing, tags from files, …)."""
    with _timers() as acc:
        wall, n = _add(files, model, hop_s, workers=0, on_ready=acc.clear)
    stages = {s: acc.get(s, 0.0) for s in STAGES}
    stages["other"] = max(0.0, wall - sum(stages.values()))
    return {"wall_s": wall, "audio_s": audio_seconds(files), "tracks": n, "hop_s": hop_s,
            "stages": stages}


def compare_ingest(files: list[Path], settings: dict[str, tuple[float, int, bool]],
                   model: str = "default", repeats: int = 2) -> dict:
    """Wall seconds of ``add`` per setting ``{name: (hop_s, workers, tag student)}``,
    alternated ``repeats`` times (median) → ``{name: {"wall_s", "x_real_time", "ratio"}}``;
    ``ratio`` is speed relative to the first setting."""
    audio_s = audio_seconds(files)
    walls: dict[str, list[float]] = {k: [] for k in settings}
    for _ in range(repeats):
        for name, (hop, workers, student) in settings.items():
            walls[name].append(_add(files, model, hop, workers, student=student)[0])
    med = {k: sorted(v)[len(v) // 2] for k, v in walls.items()}
    first = next(iter(med.values()))
    return {k: {"wall_s": w, "runs_s": walls[k], "x_real_time": audio_s / w,
                "ratio": first / w} for k, w in med.items()}


def format_stages(rep: dict) -> str:
    """The stage table: seconds, share of the wall time and × real time per stage."""
    a, w = rep["audio_s"], rep["wall_s"]
    lines = [f"stages of a serial add: {rep['tracks']} files, {a / 60:.1f} min of audio, "
             f"hop {rep['hop_s']:g} s, {w:.1f} s wall ({a / w:.0f}× real time)",
             f"{'stage':>16s} {'seconds':>8s} {'share':>6s} {'× real time':>12s}"]
    for s, t in rep["stages"].items():
        lines.append(f"{s:>16s} {t:8.2f} {t / w:6.1%} {a / t if t > 0 else float('inf'):12.0f}")
    return "\n".join(lines)


def format_compare(rep: dict) -> str:
    """Side-by-side ``add`` runs: wall, × real time and ratio to the first setting."""
    lines = [f"{'setting':>28s} {'wall s':>7s} {'× real time':>12s} {'ratio':>6s}  runs"]
    for k, r in rep.items():
        runs = "/".join(f"{x:.1f}" for x in r["runs_s"])
        lines.append(f"{k:>28s} {r['wall_s']:7.1f} {r['x_real_time']:12.0f} "
                     f"{r['ratio']:6.2f}  {runs}")
    return "\n".join(lines)


def ingest_report(model: str = "default", workers: int | None = None, repeats: int = 2,
                  files: list[Path] | None = None) -> tuple[dict, str]:
    """``bench index``'s ingestion part on real files (default :func:`installed_files`): the
    stage table of a serial add at the shipped hop, then the previous path (serial, 5 s hop,
    no tag student) side by side with the new default (worker threads, the shipped hop, the tag
    student) and the new default without its student → ``(report, text)``.
    Raises ``click.ClickException`` when no real file is installed."""
    import click

    from lyrebird.index.ingest import HOP_S
    from lyrebird.index.pipeline import default_workers

    files = installed_files() if files is None else files
    if not files:
        raise click.ClickException("no real recordings installed: `apt-get install "
                                   + " ".join(PACKAGES) + "`, or use --files generated")
    n = default_workers() if workers is None else workers
    stages = stage_table(files, model, HOP_S)
    cmp = compare_ingest(files, {"previous: serial, hop 5 s": (5.0, 0, False),
                                 f"new: {n} workers, hop {HOP_S:g} s": (HOP_S, n, True),
                                 "new without the tag student": (HOP_S, n, False)},
                         model, repeats)
    return ({"stages": stages, "compare": cmp},
            format_stages(stages) + "\n\nside by side, alternated:\n" + format_compare(cmp))


__all__ = ["PACKAGES", "STAGES", "audio_seconds", "compare_ingest", "format_compare",
           "format_stages", "ingest_report", "installed_files", "stage_table"]
