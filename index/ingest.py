"""Ingestion of audio files: discovery, content hashes, file tags, segment embeddings."""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lyrebird.encoders import AudioError, Chunks, audio_info, chunk, is_audio_path, stream_chunks

from .model import LibraryModel

MAX_DURATION_S = 4 * 3600.0
"""Files longer than this (seconds) are refused as 'very long' (configurable per call)."""

SEGMENT_S = 10.0
"""Seconds per segment window of a new library (a moment; the model's own window)."""

HOP_S = 10.0
"""Seconds between segment starts of a new library. 10 s (windows side by side) instead of the
earlier 5 s halves the encoder's work, the biggest stage of ingestion; measured on 70 real
recordings (``lyrebird bench identify``), excerpt → track top-1 stays 0.988 (0.989 at 5 s)
while the moment's start is found less exactly (median error 4.2 s instead of 1.6 s). A
library created with ``hop_s=5`` keeps its hop (it is stored in the library's meta)."""


def skip_reason(path: Path) -> str | None:
    """Why ``path`` cannot be read as a file (``None`` for a regular file, or a symlink to
    one): a FIFO or other special file, a dangling symlink, a symlink loop, a folder, or
    nothing there at all."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        if path.is_symlink():
            return f"dangling symlink to '{os.readlink(path)}'"
        return "no such file or folder"
    except OSError as e:
        if e.errno == errno.ELOOP:
            return "symlink loop"
        return f"unreadable ({e.strerror or e})"
    if stat.S_ISREG(st.st_mode):
        return None
    if stat.S_ISDIR(st.st_mode):
        return "a folder, not a regular file"
    kind = ("a FIFO" if stat.S_ISFIFO(st.st_mode) else "a socket" if stat.S_ISSOCK(st.st_mode)
            else "a device" if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode)
            else "a special file")
    return f"{kind}, not a regular file"


def discover(paths: Iterable[str | os.PathLike]) -> tuple[list[Path], list[tuple[str, str]]]:
    """Audio files under ``paths`` (files or folders, recursive; symlinked folders are not
    followed), sorted, plus ``(path, reason)`` for every path skipped: given paths that do not
    exist or are not regular files, and entries with an audio extension that are FIFOs,
    dangling symlinks or symlink loops (a folder named like audio is walked, not reported)."""
    found, bad = [], []
    for p in map(Path, paths):
        if p.is_dir():
            for f in sorted(p.rglob("*")):
                if not is_audio_path(f) or f.is_dir():
                    continue
                if (why := skip_reason(f)) is None:
                    found.append(f)
                else:
                    bad.append((str(f), why))
        elif (why := skip_reason(p)) is None:
            found.append(p)
        else:
            bad.append((str(p), why))
    seen, out = set(), []
    for f in found:
        r = f.resolve()
        if r not in seen:
            seen.add(r)
            out.append(r)
    return out, bad


def file_metadata(path: str | os.PathLike) -> dict:
    """Title, artist, genre and all text tags from the file's metadata (mutagen); ``{}`` if none."""
    try:
        import mutagen

        mf = mutagen.File(str(path), easy=True)
    except Exception:  # unreadable tags never fail ingestion
        return {}
    if mf is None or not mf.tags:
        return {}
    tags = {k: ", ".join(map(str, v)) if isinstance(v, list) else str(v) for k, v in mf.tags.items()}
    from lyrebird.core.metadata import tidy_labels  # "Gargl by |Mordred|" → title and artist, and
    # "biniax common00" → "Biniax Common 00"
    title, artist = tidy_labels(tags.get("title"), tags.get("artist"))
    return {"title": title, "artist": artist, "genre": tags.get("genre"), "tags": tags}


@dataclass
class Embedded:
    """A file's vectors: ``segments`` ``(S, 2)`` [start_s, end_s], ``seg_vectors`` ``(S, D)``,
    ``vector`` ``(D,)`` = normalised mean of the segments; ``seg_tags`` ``(S, T)``: the
    model's tag student's probabilities of each segment, and ``tags`` ``(T,)`` their mean
    weighted by the segments' real audio (both ``None`` when the model has no student)."""

    duration_s: float
    segments: list[tuple[float, float]]
    seg_vectors: np.ndarray
    vector: np.ndarray
    tags: np.ndarray | None = None
    seg_tags: np.ndarray | None = None


def _embed_chunks(model: LibraryModel, chunks: Iterable[Chunks]
                  ) -> tuple[list[tuple[float, float]], np.ndarray, np.ndarray,
                             tuple[np.ndarray, np.ndarray] | None]:
    spans, vecs, valid, tags = [], [], [], []
    tag_segments = getattr(model, "tag_segments", None)
    for ch in chunks:
        vecs.append(np.asarray(model.embed_windows(ch.audio, ch.valid), dtype=np.float32))
        valid.append(ch.valid)
        spans += [(float(s), float(e)) for s, e in zip(ch.starts_s, ch.ends_s, strict=True)]
        t = tag_segments(ch.audio, ch.valid) if tag_segments is not None else None
        if t is not None:
            tags.append(np.asarray(t, np.float32))
    seg = np.concatenate(vecs)
    from lyrebird.encoders.pooling import weighted_mean  # torch: embedding loads it anyway

    return spans, seg, weighted_mean(seg, np.concatenate(valid), normalize=True).numpy(), \
        _track_tags(tags, valid)


def _track_tags(tags: list[np.ndarray], valid: list[np.ndarray]
                ) -> tuple[np.ndarray, np.ndarray] | None:
    """``(track (T,), segments (S, T))``: a track's segments' tag-student probabilities, and
    their mean weighted by their real audio (``valid`` samples); ``None`` without one per
    segment."""
    n = np.concatenate(valid).astype(np.float64) if valid else np.zeros(0)
    if not tags or sum(len(t) for t in tags) != len(n):
        return None
    w = n / max(n.sum(), 1.0)
    seg = np.concatenate(tags).astype(np.float32)
    return (seg * w[:, None]).sum(0).astype(np.float32), seg


def _checked_info(path: str | os.PathLike, max_duration_s: float):
    info = audio_info(path)
    if info.duration_s > max_duration_s:
        raise AudioError(path, f"very long: {info.duration_s / 3600:.1f} h exceeds the "
                               f"{max_duration_s / 3600:.1f} h limit")
    return info


def embed_file(model: LibraryModel, path: str | os.PathLike, segment_s: float = 10.0,
               hop_s: float = 5.0, batch: int = 8,
               max_duration_s: float = MAX_DURATION_S) -> Embedded:
    """Stream ``path`` in ``segment_s`` windows every ``hop_s`` seconds and embed each.

    The file is decoded and windowed once; each window goes to the model as it is
    (``model.embed_windows``). The track vector is the windows' mean weighted by their real
    audio (:func:`lyrebird.encoders.pooling.weighted_mean`), normalised. Memory is bounded by
    ``batch`` windows. Raises :class:`AudioError` for unusable files.
    """
    info = _checked_info(path, max_duration_s)
    spans, seg, vec, tags = _embed_chunks(model, stream_chunks(
        path, model.SAMPLE_RATE, segment_s, hop_s, batch=batch, last="shift"))
    return Embedded(info.duration_s, spans, seg, vec, *(tags or (None, None)))


def _tag_chunks(model: LibraryModel, parts: Iterable[Chunks]
                ) -> tuple[np.ndarray, np.ndarray] | None:
    """The tag student over batches of segments → :func:`_track_tags` (``None`` when it
    declines a batch)."""
    tags, valid = [], []
    for ch in parts:
        t = model.tag_segments(ch.audio, ch.valid)
        if t is None:
            return None
        tags.append(np.asarray(t, np.float32))
        valid.append(ch.valid)
    return _track_tags(tags, valid)


def tag_file(model: LibraryModel, path: str | os.PathLike, segment_s: float = 10.0,
             hop_s: float = 5.0, batch: int = 8,
             max_duration_s: float = MAX_DURATION_S) -> tuple[np.ndarray, np.ndarray] | None:
    """The tag-student tags :func:`embed_file` would store for ``path``, the track's ``(T,)``
    and its segments' ``(S, T)``, without running the encoder (``None`` when the model has no
    student). Raises :class:`AudioError` for unusable files."""
    if getattr(model, "tag_segments", None) is None:
        return None
    _checked_info(path, max_duration_s)
    return _tag_chunks(model, stream_chunks(path, model.SAMPLE_RATE, segment_s, hop_s,
                                            batch=batch, last="shift"))


def tag_waveform(model: LibraryModel, wav: np.ndarray, segment_s: float = 10.0,
                 hop_s: float = 5.0, batch: int = 8) -> tuple[np.ndarray, np.ndarray] | None:
    """:func:`tag_file` for a ``(T,)`` float32 waveform already at ``model.SAMPLE_RATE``: the
    tags :func:`embed_waveform` gives, without running the encoder."""
    if getattr(model, "tag_segments", None) is None:
        return None
    return _tag_chunks(model, _batches(wav, model.SAMPLE_RATE, segment_s, hop_s, batch))


def embed_waveform(model: LibraryModel, wav: np.ndarray, segment_s: float = 10.0,
                   hop_s: float = 5.0, batch: int = 8) -> Embedded:
    """:func:`embed_file` for a ``(T,)`` float32 waveform already at ``model.SAMPLE_RATE``."""
    sr = model.SAMPLE_RATE
    spans, seg, vec, tags = _embed_chunks(model, _batches(wav, sr, segment_s, hop_s, batch))
    return Embedded(len(wav) / sr, spans, seg, vec, *(tags or (None, None)))


def _batches(wav: np.ndarray, sr: int, segment_s: float, hop_s: float, batch: int
             ) -> Iterable[Chunks]:
    """A waveform's segments (the last one shifted to end with the audio), ``batch`` at a time."""
    ch = chunk(wav, sr, segment_s, hop_s, last="shift")
    return (Chunks(ch.audio[i : i + batch], ch.starts_s[i : i + batch], ch.valid[i : i + batch],
                   sr) for i in range(0, len(ch), batch))
