"""``lyrebird bench identify``: find the source track of a 10-second excerpt of real music.

On a library of real recordings (:mod:`lyrebird.bench.realcorpus`: Debian's game music), each
track gives two excerpts at random offsets — a *tuning* one, on which the weight of the segment
score is chosen, and a *test* one, on which it is reported — under each degradation of
:data:`CONDITIONS` (resampling, noise, gain, Ogg/Vorbis and MP3 re-encoding, and the issue's
mix: 22.05 kHz, light noise, Ogg). Each excerpt is embedded once (cached in ``--cache``), then
searched by :meth:`lyrebird.index.Library.search_audio` at each weight of :data:`WEIGHTS`
(0 = the track vector alone, the old behaviour; 1 = the best segment alone).

Also measured: the query latency (decode + embed + search, and search alone); same-package
precision@5 of similar-track search (each library track's own audio as the query, itself
excluded) at weight 0 and at the chosen weight; and top-1 as synthetic distractor tracks are
added (:func:`add_distractors`), up to 100,000.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from lyrebird.index import Library
from lyrebird.index.ingest import Embedded

WEIGHTS = (0.0, 0.25, 0.5, 0.6, 0.75, 0.9, 1.0)
EXCERPT_S = 10.0


def _noise(x: np.ndarray, snr_db: float, rng: np.random.Generator) -> np.ndarray:
    p = float(np.mean(x**2)) or 1e-8
    return x + rng.standard_normal(x.shape).astype(np.float32) * np.sqrt(p / 10 ** (snr_db / 10))


def _write(path: Path, x: np.ndarray, sr: int, fmt: str = "WAV", subtype: str | None = None):
    sf.write(path, np.clip(x, -1, 1).astype(np.float32), sr, format=fmt, subtype=subtype)
    return path


CONDITIONS: dict[str, Callable[[Path, np.ndarray, int, np.random.Generator], Path]] = {
    "clean": lambda p, x, sr, r: _write(p.with_suffix(".flac"), x, sr, "FLAC"),
    "resample 22.05k": lambda p, x, sr, r: _write(p.with_suffix(".wav"),
                                                   soxr.resample(x, sr, 22050), 22050),
    "noise 20 dB": lambda p, x, sr, r: _write(p.with_suffix(".wav"), _noise(x, 20, r), sr),
    "gain -12 dB": lambda p, x, sr, r: _write(p.with_suffix(".wav"), x * 10 ** (-12 / 20), sr),
    "gain +6 dB": lambda p, x, sr, r: _write(p.with_suffix(".wav"), x * 10 ** (6 / 20), sr),
    "ogg vorbis": lambda p, x, sr, r: _write(p.with_suffix(".ogg"), x, sr, "OGG", "VORBIS"),
    "mp3": lambda p, x, sr, r: _write(p.with_suffix(".mp3"), x, sr, "MP3", "MPEG_LAYER_III"),
    "22.05k+noise+ogg": lambda p, x, sr, r: _write(
        p.with_suffix(".ogg"), _noise(soxr.resample(x, sr, 22050), 30, r), 22050, "OGG",
        "VORBIS"),
}
"""Degradations of an excerpt ``x`` (mono float32 at ``sr``), each written to a file."""


def build_library(folder: Path, recordings: list[tuple[Path, str]], model: str = "default"
                  ) -> Library:
    """Open the library at ``folder``, creating it and adding the recordings when needed."""
    lib = Library.open(folder) if (folder / "library.sqlite").exists() else \
        Library.create(folder, model)
    lib.add([f for f, _ in recordings])
    return lib


def excerpts(lib: Library, cache: Path, seed: int) -> dict:
    """Embedded excerpts ``{condition: [(track id, Embedded)]}`` for every track (cached)."""
    f = cache / f"excerpts-{seed}.npz"
    if f.exists():
        z = np.load(f, allow_pickle=False)
        meta = json.loads(str(z["meta"]))
        return {c: [(t, Embedded(EXCERPT_S, [tuple(s) for s in segs], z[f"{c}|{t}|s"],
                                 z[f"{c}|{t}|v"])) for t, segs in rows]
                for c, rows in meta["conditions"].items()} | {"_embed_s": meta["embed_s"]}
    rng = np.random.default_rng(seed)
    out: dict = {c: [] for c in CONDITIONS}
    arrays, meta, times = {}, {c: [] for c in CONDITIONS}, []
    with tempfile.TemporaryDirectory() as d:
        for row in lib.tracks():
            info = sf.info(row.path)
            start = rng.uniform(0, max(0.0, info.duration - EXCERPT_S))
            x, sr = sf.read(row.path, start=int(start * info.samplerate),
                            frames=int(EXCERPT_S * info.samplerate), dtype="float32",
                            always_2d=True)
            x = x.mean(axis=1)
            for c, make in CONDITIONS.items():
                p = make(Path(d) / f"q{row.id}", x, sr, rng)
                t0 = time.perf_counter()
                emb = lib.audio_embedded(p)
                times.append(time.perf_counter() - t0)
                out[c].append((row.id, emb))
                arrays[f"{c}|{row.id}|s"], arrays[f"{c}|{row.id}|v"] = emb.seg_vectors, emb.vector
                meta[c].append((row.id, [list(s) for s in emb.segments]))
    cache.mkdir(parents=True, exist_ok=True)
    np.savez(f, meta=json.dumps({"conditions": meta, "embed_s": times}), **arrays)
    out["_embed_s"] = times
    return out


def top1(lib: Library, queries: dict, weight: float) -> dict[str, float]:
    """Fraction of excerpts whose first hit is their source track, per condition."""
    return {c: float(np.mean([(h := lib.search_audio(e, 1, weight=weight)) != []
                              and h[0].track_id == t for t, e in rows]))
            for c, rows in queries.items() if not c.startswith("_")}


def stored_embedded(lib: Library, track_id: int) -> Embedded:
    """A library track as a query, from its stored vectors (what embedding its file gives)."""
    emb = lib.reader.track_embedded(track_id)
    if emb is None:
        raise ValueError(f"track {track_id} has no stored segments")
    return emb


def same_package_p5(lib: Library, package: dict[int, str], weight: float | None) -> float:
    """Mean fraction of the 5 nearest other tracks from the query's package; ``weight=None``
    is ``similar(track_id)`` (track vectors), else the track's audio as a query."""
    out = []
    for tid, pkg in package.items():
        hits = (lib.similar(tid, 5) if weight is None else
                lib.search_audio(stored_embedded(lib, tid), 5, weight=weight, exclude=tid))
        out.append(np.mean([package.get(h.track_id) == pkg for h in hits]))
    return float(np.mean(out))


def distractor_model(lib: Library) -> dict[str, np.ndarray]:
    """A Gaussian fitted to the library's segment vectors: the mean, the between-track part
    (track means) and the within-track part (segments around their track's mean), each as a
    matrix ``L`` with ``cov = L @ L.T``."""
    means, resid = [], []
    for r in lib.tracks():
        if r.path.startswith("synthetic://"):
            continue
        _, v = lib.track_segments(r.id)
        means.append(v.mean(0))
        resid.append(v - v.mean(0))
    means, resid = np.stack(means), np.concatenate(resid)
    mu = means.mean(0)

    def root(x: np.ndarray) -> np.ndarray:  # cov(x)^(1/2) through the SVD of the centred data
        _, s, vt = np.linalg.svd(x - x.mean(0), full_matrices=False)
        return (vt.T * s / np.sqrt(max(1, len(x) - 1))).astype(np.float32)

    return {"mean": mu.astype(np.float32), "between": root(means), "within": root(resid)}


def add_distractors(lib: Library, n: int, segments_per_track: int = 8, seed: int = 0,
                    batch: int = 20_000, model: dict | None = None) -> None:
    """Add ``n`` synthetic tracks straight to SQLite and FAISS through the public
    ``Library.add_embedded`` (no audio). Each is drawn from :func:`distractor_model` — a track
    centre from the between-track Gaussian, its segments around it from the within-track one,
    normalised — so distractors have the statistics of the library's music without copying any
    track. Paths are ``synthetic://distractor/<i>``; the track vector is the segments' mean."""
    g = model or distractor_model(lib)
    rng = np.random.default_rng(seed)
    start = int(lib.info()["tracks"])
    kb, kw = g["between"].shape[1], g["within"].shape[1]

    def items():
        for i in range(start, start + n):
            centre = g["mean"] + g["between"] @ rng.standard_normal(kb).astype(np.float32)
            segs = centre + rng.standard_normal((segments_per_track, kw)).astype(np.float32) \
                @ g["within"].T
            segs /= np.linalg.norm(segs, axis=1, keepdims=True)
            vec = segs.mean(0)
            yield (f"synthetic://distractor/{i}", f"distractor-{seed}-{i}", {},
                   Embedded(10.0 * segments_per_track,
                            [(10.0 * j, 10.0 * j + 10) for j in range(segments_per_track)],
                            segs.astype(np.float32), (vec / np.linalg.norm(vec)).astype(np.float32)))

    lib.add_embedded(items(), batch_size=batch)


def bench_identify(library: Path, recordings: list[tuple[Path, str]], cache: Path,
                   model: str = "default", distractors: tuple[int, ...] = (1_000, 10_000, 100_000),
                   log: Callable[[str], None] = print) -> dict:
    """The whole benchmark → a JSON-able report (see the module docstring)."""
    lib = build_library(library, recordings, model)
    by_path = {str(Path(f).resolve()): p for f, p in recordings}
    package = {r.id: by_path.get(str(Path(r.path).resolve())) for r in lib.tracks()}
    package = {t: p for t, p in package.items() if p}
    tune, test = excerpts(lib, cache, 0), excerpts(lib, cache, 1)
    log(f"{len(package)} tracks; excerpts embedded")
    grid = {w: top1(lib, tune, w) for w in WEIGHTS}
    best = max(WEIGHTS, key=lambda w: (np.mean(list(grid[w].values())), -abs(w - 0.5)))
    rep = {"tracks": len(package), "tune_top1": {str(w): v for w, v in grid.items()},
           "weight": best, "test_top1": {"track vector (before)": top1(lib, test, 0.0),
                                         "best segment": top1(lib, test, 1.0),
                                         f"fused w={best}": top1(lib, test, best)}}
    t0 = time.perf_counter()
    rows = [e for c, rr in test.items() if not c.startswith("_") for _, e in rr]
    for e in rows:
        lib.search_audio(e, 10, weight=best)
    rep["latency_ms"] = {"embed_p50": _embed_p50(lib),
                         "search_mean": 1e3 * (time.perf_counter() - t0) / len(rows)}
    rep["same_package_p5"] = {"similar(track id)": same_package_p5(lib, package, None),
                              "audio, track vector (before)": same_package_p5(lib, package, 0.0),
                              f"audio, fused w={best}": same_package_p5(lib, package, best)}
    log(json.dumps(rep, indent=1))
    rep["growth"] = _growth(lib, test, best, distractors, log) if distractors else []
    return rep


def _embed_p50(lib: Library, n: int = 10) -> float:
    """Median ms to decode and embed a 10 s excerpt file (measured now, not cached)."""
    times = []
    with tempfile.TemporaryDirectory() as d:
        for row in lib.tracks(limit=n):
            x, sr = sf.read(row.path, frames=int(EXCERPT_S * sf.info(row.path).samplerate),
                            dtype="float32", always_2d=True)
            p = _write(Path(d) / f"q{row.id}.wav", x.mean(axis=1), sr)
            t0 = time.perf_counter()
            lib.audio_embedded(p)
            times.append(time.perf_counter() - t0)
    return 1e3 * float(np.median(times))


def _growth(lib: Library, test: dict, weight: float, sizes, log) -> list[dict]:
    keep = {c: test[c] for c in ("clean", "22.05k+noise+ogg")}
    out = []
    with tempfile.TemporaryDirectory() as d:
        for name in ("library.sqlite", "tracks.faiss", "segments.faiss", "LOCK"):
            shutil.copy(lib.path / name, Path(d) / name)
        big = Library.open(d, model=lib.model)
        g, have = distractor_model(big), 0
        for n in sorted(sizes):
            add_distractors(big, n - have, seed=n, model=g)
            have = n
            row = {"distractors": n, "index": big.info()["index"],
                   "closest_cos": _closest(big, keep["clean"])}
            for w in (0.0, weight):
                t0 = time.perf_counter()
                row[f"w={w}"] = top1(big, keep, w)
                row[f"w={w} search_ms"] = 1e3 * (time.perf_counter() - t0) / sum(map(len, keep.values()))
            log(json.dumps(row))
            out.append(row)
        big.close()
    return out


def _closest(lib: Library, rows) -> dict[str, float]:
    """Median cosine of each excerpt's best segment in its own track, in another real track
    and in a distractor: how hard the distractors are next to real music."""
    best: dict[str, list[float]] = {"own track": [], "other real track": [], "distractor": []}
    for tid, e in rows:
        found: dict[str, float] = {}
        for h in lib.search_segments(np.asarray(e.seg_vectors[0], np.float32), 200):  # best first
            kind = ("own track" if h.track_id == tid else "distractor"
                    if h.path.startswith("synthetic://") else "other real track")
            found.setdefault(kind, h.score)
        for k, v in found.items():
            best[k].append(v)
    return {k: float(np.median(v)) if v else float("nan") for k, v in best.items()}


def format_report(rep: dict) -> str:
    """Markdown tables: top-1 per condition and method, P@5, latency, growth."""
    conds = list(next(iter(rep["test_top1"].values())))
    lines = [f"excerpt → source track, top-1 on {rep['tracks']} real recordings "
             f"(test excerpts; weight {rep['weight']} chosen on tuning excerpts)", "",
             "| method | " + " | ".join(conds) + " | mean |", "|---" * (len(conds) + 2) + "|"]
    for m, r in rep["test_top1"].items():
        lines.append(f"| {m} | " + " | ".join(f"{r[c]:.3f}" for c in conds)
                     + f" | {np.mean(list(r.values())):.3f} |")
    lines += ["", "same-package precision@5: " + ", ".join(
        f"{k} {v:.3f}" for k, v in rep["same_package_p5"].items()),
        f"latency: embed a 10 s excerpt p50 {rep['latency_ms']['embed_p50']:.0f} ms, "
        f"search {rep['latency_ms']['search_mean']:.1f} ms"]
    if rep.get("growth"):
        lines += ["", "| distractor tracks | top-1 before (clean / 22.05k+noise+ogg) | "
                  "top-1 fused | search ms |", "|---|---|---|---|"]
        w = f"w={rep['weight']}"
        for g in rep["growth"]:
            b, f, ms = g["w=0.0"], g[w], g[f"{w} search_ms"]
            lines.append(f"| {g['distractors']:,} | {b['clean']:.3f} / {b['22.05k+noise+ogg']:.3f}"
                         f" | {f['clean']:.3f} / {f['22.05k+noise+ogg']:.3f} | {ms:.1f} |")
    return "\n".join(lines)
