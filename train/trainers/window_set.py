"""One split's labelled windows as log-mels and teacher targets, cached (the tag student's data).

Each labelled track of a split (its ``lyrebird teach --windows`` shard) is decoded at 16 kHz
once and turned into musicnn's log-mel; window ``i`` of a track is its frames
``[187 i, 187 (i + 1))``, exactly the window the teachers labelled. An augmented copy is made
again from its track by the labeller's seeded augmentation
(:func:`lyrebird.train.teachers.windows.remake_copy`), so its log-mel is the audio the teachers
heard.

The cache (one ``.npz`` per split, teachers and copies) records the shards it was made from.
When more shards are labelled, the tracks it already holds are taken from it and only the new
ones are decoded (a sung copy's voice is slow to remake); a track whose shard is gone is left
out.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from lyrebird.encoders.audio import load_audio
from lyrebird.train.corpora.manifest import read_manifest, resolve_path
from lyrebird.train.teachers.windows import read_shard

SR = 16000


@dataclass
class WindowSet:
    """One split's windows: the log-mel of all its tracks end to end ``mel (frames, 96)``
    float16, each window's first frame ``starts (W,)``, the teachers' ``probs (W, T)`` and
    ``feats (W, F)``, each track's first window ``track_rows (N + 1,)`` and its windows'
    start times in seconds ``track_win_s`` (N arrays)."""

    mel: np.ndarray
    starts: np.ndarray
    probs: np.ndarray
    feats: np.ndarray
    track_rows: np.ndarray
    track_win_s: list[np.ndarray]
    names: tuple[str, ...]
    feat_dims: tuple[int, ...]

    def __len__(self) -> int:
        return len(self.starts)

    def batch(self, idx: np.ndarray, n_frames: int, jitter: int = 0,
              rng: np.random.Generator | None = None) -> torch.Tensor:
        """Windows ``idx`` as ``(B, n_frames, 96)`` float32 (shifted by up to ``jitter``)."""
        st = self.starts[idx]
        if jitter and rng is not None:
            st = np.clip(st + rng.integers(-jitter, jitter + 1, len(st)), 0, len(self.mel) - n_frames)
        return torch.from_numpy(np.stack([self.mel[s:s + n_frames] for s in st]).astype(np.float32))


@dataclass
class _Track:
    """One track's piece of a :class:`WindowSet`: its log-mel ``(frames, 96)``, its windows'
    start times ``(n,)`` in seconds, probabilities ``(n, T)`` and features ``(n, F)``."""

    mel: np.ndarray
    win_s: np.ndarray
    probs: np.ndarray
    feats: np.ndarray


def window_set(manifest: str | os.PathLike, windows: str | os.PathLike, split: str,
               teachers: tuple[str, ...], cache: str | os.PathLike | None = None,
               n_frames: int = 187, copies: bool = False, workers: int = 1) -> WindowSet:
    """The labelled tracks of ``split`` (the manifest's split) as a :class:`WindowSet`.
    ``copies``: the labelled augmented copies too; otherwise the clean tracks only. Tracks
    already in ``cache`` (written by an earlier call for the same split, teachers and copies)
    are read from it; the others are decoded (by ``workers`` processes, with progress on
    stderr), and the cache is rewritten when anything changed."""

    members = _members(manifest, windows, split, copies)
    stems = [m.stem for m in members]
    name = f"{split}-{'+'.join(teachers)}{'-copies' if copies else ''}.npz"
    f = Path(cache) / name if cache is not None else None
    d = _read_cache(f, n_frames)
    if d is not None and d["shards"].tolist() == stems:  # unchanged: as written
        rows = d["track_rows"]
        return WindowSet(d["mel"], d["starts"], d["probs"], d["feats"], rows,
                         np.split(d["win_s"], rows[1:-1]), tuple(d["names"].tolist()),
                         tuple(int(x) for x in d["feat_dims"]))
    old = _cached_tracks(d) if d is not None else {}
    tracks: dict[str, _Track] = {s: old[s] for s in stems if s in old}
    meta: dict = old.get("__meta__", {})
    todo = [m for m in members if m.stem not in old]
    for stem, got in _decoded(todo, manifest, teachers, n_frames, workers, split):
        if got is not None:
            tracks[stem], meta = got
    if not tracks:
        raise ValueError(f"'{windows}': no labelled tracks of the {split!r} split of '{manifest}'")
    ws = _assemble([tracks[s] for s in stems if s in tracks], meta, n_frames)
    if f is not None:
        f.parent.mkdir(parents=True, exist_ok=True)
        np.savez(f, mel=ws.mel, starts=ws.starts, probs=ws.probs, feats=ws.feats,
                 track_rows=ws.track_rows, win_s=np.concatenate(ws.track_win_s),
                 names=np.array(ws.names), feat_dims=np.array(ws.feat_dims),
                 shards=np.array(stems), track_shards=np.array([s for s in stems if s in tracks]),
                 n_frames=np.array(n_frames))
    return ws


def _decoded(todo: list[Path], manifest: str | os.PathLike, teachers: tuple[str, ...],
             n_frames: int, workers: int, split: str
             ) -> Iterator[tuple[str, tuple[_Track, dict] | None]]:
    """``(stem, _decode(...))`` for each shard of ``todo``, in any order."""
    from lyrebird.core.progress import progress
    from lyrebird.encoders.musicnn_mel import LogMelFrontend

    if not todo:
        return
    desc = f"log-mels of {split}"
    if workers <= 1 or len(todo) == 1:
        fe = LogMelFrontend()
        for shard in progress(todo, desc=desc):
            yield shard.stem, _decode(shard, manifest, teachers, fe, n_frames)
        return
    from concurrent.futures import ProcessPoolExecutor, as_completed
    from multiprocessing import get_context

    with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
        futs = {pool.submit(_decode, shard, manifest, teachers, None, n_frames): shard.stem
                for shard in todo}
        for fut in progress(as_completed(futs), total=len(futs), desc=desc):
            yield futs[fut], fut.result()


def _decode(shard: Path, manifest: str | os.PathLike, teachers: tuple[str, ...], fe,
            n_frames: int) -> tuple[_Track, dict] | None:
    """One shard's track (remade when it is an augmented copy), or None when it holds no full
    window; with the names and feature widths of its teachers' outputs. ``fe``: musicnn's
    log-mel front end (made here when None)."""
    from lyrebird.encoders.musicnn_mel import LogMelFrontend
    from lyrebird.train.teachers.windows import remake_copy

    fe = fe if fe is not None else LogMelFrontend()
    meta, arr = read_shard(shard)
    st = float(meta["start_s"] or 0.0)
    if any(f"{t}/probs" not in arr for t in teachers):
        raise ValueError(f"{shard}: no labels of {', '.join(teachers)}; label with "
                         f"'lyrebird teach --windows --teachers {','.join(teachers)}'")
    wav = load_audio(resolve_path(manifest, meta["path"]), SR, offset_s=st,
                     duration_s=None if meta["end_s"] is None else meta["end_s"] - st)
    if meta["copy"]:
        wav, _ = remake_copy(wav, SR, shard.stem, meta)
    mel = fe(wav).numpy().astype(np.float16)
    n = min(len(arr["starts_s"]), max(0, (len(mel) - n_frames) // n_frames + 1))
    if n == 0:
        return None
    from lyrebird.train.teachers import TEACHERS  # the shipped teachers' tag names; others
    # (stand-ins in tests) are named teacher:index
    names = tuple(nm for t in teachers for nm in (
        TEACHERS[t]["tags"] if t in TEACHERS else
        [f"{t}:{j}" for j in range(arr[f"{t}/probs"].shape[1])]))
    feat_dims = tuple(int(arr[f"{t}/feats"].shape[1]) for t in teachers)
    return _Track(mel, np.asarray(arr["starts_s"][:n], np.float32),
                  np.concatenate([arr[f"{t}/probs"][:n] for t in teachers], 1).astype(np.float16),
                  np.concatenate([arr[f"{t}/feats"][:n] for t in teachers], 1).astype(np.float16)
                  ), {"names": names, "feat_dims": feat_dims}


def _assemble(tracks: list[_Track], meta: dict, n_frames: int) -> WindowSet:
    """Tracks end to end as one :class:`WindowSet` (window ``i`` of a track starts at its frame
    ``n_frames · i``, offset by the frames of the tracks before it)."""
    starts, rows, off = [], [], 0
    for t in tracks:
        rows.append(len(starts))
        starts.extend(off + i * n_frames for i in range(len(t.win_s)))
        off += len(t.mel)
    return WindowSet(np.concatenate([t.mel for t in tracks]), np.asarray(starts, np.int64),
                     np.concatenate([t.probs for t in tracks]),
                     np.concatenate([t.feats for t in tracks]),
                     np.asarray([*rows, len(starts)], np.int64), [t.win_s for t in tracks],
                     tuple(meta["names"]), tuple(int(x) for x in meta["feat_dims"]))


def joined(sets: list[WindowSet]) -> WindowSet:
    """Window sets end to end as one (e.g. two corpora's train splits); each set's windows keep
    their log-mel frames, offset by the frames of the sets before it. The sets must hold the
    same teachers' outputs."""
    if not sets:
        raise ValueError("no window sets to join")
    if len(sets) == 1:
        return sets[0]
    first = sets[0]
    for s in sets[1:]:
        if s.names != first.names or s.feat_dims != first.feat_dims:
            raise ValueError("window sets of other teachers cannot be joined: "
                             f"{len(s.names)} tags / {s.feat_dims} against "
                             f"{len(first.names)} / {first.feat_dims}")
    frames = np.cumsum([0] + [len(s.mel) for s in sets])
    windows = np.cumsum([0] + [len(s) for s in sets])
    rows = [s.track_rows[:-1] + w for s, w in zip(sets, windows, strict=False)]
    return WindowSet(np.concatenate([s.mel for s in sets]),
                     np.concatenate([s.starts + f for s, f in zip(sets, frames, strict=False)]),
                     np.concatenate([s.probs for s in sets]),
                     np.concatenate([s.feats for s in sets]),
                     np.concatenate([*rows, [windows[-1]]]).astype(np.int64),
                     [w for s in sets for w in s.track_win_s], first.names, first.feat_dims)


def _read_cache(f: Path | None, n_frames: int) -> dict[str, np.ndarray] | None:
    """A cache file's arrays, or None when there is none or it was cut in other windows."""
    if f is None or not f.is_file():
        return None
    with np.load(f, allow_pickle=False) as z:
        d = {k: z[k] for k in z.files}
    return d if "shards" in d and int(d.get("n_frames", 187)) == n_frames else None


def _cached_tracks(d: dict[str, np.ndarray]) -> dict:
    """A cache's tracks as ``{shard stem: _Track, "__meta__": names and widths}`` (empty when
    they cannot be told apart: a cache written before it recorded them, with a skipped
    shard)."""
    shards, rows = d["shards"].tolist(), d["track_rows"]
    held = d["track_shards"].tolist() if "track_shards" in d else (
        shards if len(shards) == len(rows) - 1 else None)
    if held is None:
        return {}
    win_s = np.split(d["win_s"], rows[1:-1])
    ends = [*d["starts"][rows[1:-1]].tolist(), len(d["mel"])]
    firsts = d["starts"][rows[:-1]].tolist()
    out: dict = {s: _Track(d["mel"][a:b], win_s[i], d["probs"][rows[i]:rows[i + 1]],
                           d["feats"][rows[i]:rows[i + 1]])
                 for i, (s, a, b) in enumerate(zip(held, firsts, ends, strict=True))}
    out["__meta__"] = {"names": d["names"].tolist(), "feat_dims": d["feat_dims"].tolist()}
    return out


def _members(manifest: str | os.PathLike, windows: str | os.PathLike, split: str,
             copies: bool) -> list[Path]:
    """The shards of ``split``'s tracks (the manifest's split), copies only with ``copies``."""
    df = read_manifest(manifest)
    split_of = {(str(r["path"]), float(r.get("start_s") or 0.0)): r.get("split")
                for r in df.to_dict("records")}
    out = []
    for shard in sorted((Path(windows) / "shards").glob("*.npz")):
        with np.load(shard) as z:
            meta = json.loads(str(z["meta"]))
        if (meta["copy"] and not copies) or split_of.get(
                (str(meta["path"]), float(meta["start_s"] or 0.0))) != split:
            continue
        out.append(shard)
    return out


__all__ = ["WindowSet", "joined", "window_set"]
