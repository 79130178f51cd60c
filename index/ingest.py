"""Ingestion of audio files: discovery, content hashes, file tags, segment embeddings."""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lyrebird.encoders import AudioError, audio_info, is_audio_path, stream_chunks

from .model import LibraryModel

MAX_DURATION_S = 4 * 3600.0
"""Files longer than this (seconds) are refused as 'very long' (configurable per call)."""


def discover(paths: Iterable[str | os.PathLike]) -> tuple[list[Path], list[tuple[str, str]]]:
    """Audio files under ``paths`` (files or folders, recursive), sorted, plus ``(path, reason)``
    for given paths that do not exist or are not audio."""
    found, bad = [], []
    for p in map(Path, paths):
        if p.is_dir():
            found += sorted(f for f in p.rglob("*") if f.is_file() and is_audio_path(f))
        elif p.is_file():
            found.append(p)
        else:
            bad.append((str(p), "no such file or folder"))
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
    return {"title": tags.get("title"), "artist": tags.get("artist"), "genre": tags.get("genre"),
            "tags": tags}


@dataclass
class Embedded:
    """A file's vectors: ``segments`` ``(S, 2)`` [start_s, end_s], ``seg_vectors`` ``(S, D)``,
    ``vector`` ``(D,)`` = normalised mean of the segments."""

    duration_s: float
    segments: list[tuple[float, float]]
    seg_vectors: np.ndarray
    vector: np.ndarray


def embed_file(model: LibraryModel, path: str | os.PathLike, segment_s: float = 10.0,
               hop_s: float = 5.0, batch: int = 8,
               max_duration_s: float = MAX_DURATION_S) -> Embedded:
    """Stream ``path`` in ``segment_s`` windows every ``hop_s`` seconds and embed each.

    Memory is bounded by ``batch`` windows. Raises :class:`AudioError` for unusable files.
    """
    info = audio_info(path)
    if info.duration_s > max_duration_s:
        raise AudioError(path, f"very long: {info.duration_s / 3600:.1f} h exceeds the "
                               f"{max_duration_s / 3600:.1f} h limit")
    spans, vecs = [], []
    for ch in stream_chunks(path, model.SAMPLE_RATE, segment_s, hop_s, batch=batch, last="shift"):
        audio = [a[:v] for a, v in zip(ch.audio, ch.valid, strict=True)]
        vecs.append(model.embed_segments(audio))
        spans += [(float(s), float(e)) for s, e in zip(ch.starts_s, ch.ends_s, strict=True)]
    seg = np.concatenate(vecs).astype(np.float32)
    mean = seg.mean(0)
    return Embedded(info.duration_s, spans, seg, mean / max(np.linalg.norm(mean), 1e-12))
