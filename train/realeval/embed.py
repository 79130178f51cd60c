"""Embedding the split's tracks (segment and track vectors) and their degraded excerpts, with a
per-model cache under ``OUT/cache/<model key>/`` so that re-runs only embed what is new."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lyrebird.encoders.audio import audio_info, load_audio, resample
from lyrebird.index.ingest import embed_waveform, tag_waveform
from lyrebird.train.realeval.degrade import QUERY_SR, excerpt_offset, make_query
from lyrebird.train.realeval.models import ModelSpec

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Track:
    """One evaluated track: file, span and the seed of its excerpt query."""

    path: Path
    start_s: float
    end_s: float | None
    seed: int


@dataclass(frozen=True)
class Settings:
    segment_s: float = 10.0
    hop_s: float = 5.0
    excerpt_s: float = 10.0
    snr_db: float | None = 30.0
    codec: bool = True


@dataclass
class Vectors:
    """A model's vectors for the split: ``seg`` ``(S, D)`` with ``seg_track`` ``(S,)``,
    ``track`` ``(N, D)`` and the excerpt queries ``query`` ``(N, D)``; ``tags`` ``(N, T)``:
    each track's tag-student probabilities, as a library stores them (``None`` for a model
    without a student)."""

    seg: np.ndarray
    seg_track: np.ndarray
    track: np.ndarray
    query: np.ndarray
    tags: np.ndarray | None = None

    def standardised(self) -> Vectors:
        """z-scored per dimension with the segments' statistics (for audio-only features)."""
        mu, sd = self.seg.mean(axis=0), self.seg.std(axis=0)
        sd = sd + 0.1 * float(np.median(sd)) + 1e-6  # a floor: near-constant bands stay quiet
        return Vectors((self.seg - mu) / sd, self.seg_track, (self.track - mu) / sd,
                       (self.query - mu) / sd)


def _key(t: Track, s: Settings) -> str:
    blob = f"{t.path}|{t.start_s}|{t.end_s}|{s}|{t.seed}|{QUERY_SR}|v1"
    return hashlib.sha1(blob.encode()).hexdigest()[:20]


def excerpt_query(t: Track, s: Settings) -> tuple[np.ndarray, float]:
    """The degraded excerpt of a track at :data:`QUERY_SR` and its start (s) in the file."""
    info = audio_info(t.path)
    end = t.end_s if t.end_s is not None else info.duration_s
    sr = int(info.sample_rate)
    rng = np.random.default_rng(t.seed)
    off = excerpt_offset(int((end - t.start_s) * sr), sr, s.excerpt_s, rng)
    start = t.start_s + off / sr
    wav = load_audio(t.path, None, offset_s=start, duration_s=min(s.excerpt_s, end - start))
    q, _ = make_query(wav, sr, t.seed + 1, s.excerpt_s, QUERY_SR, s.snr_db, s.codec)
    return q, start


def _save(f: Path, **arrays: np.ndarray) -> None:
    tmp = f.with_name(f.name + ".tmp.npz")
    np.savez(tmp, **arrays)
    tmp.replace(f)


def embed_tracks(spec: ModelSpec, tracks: list[Track], s: Settings, cache: Path | None,
                 queries: dict[int, np.ndarray] | None = None) -> Vectors:
    """Segment, track and excerpt vectors of ``tracks`` under ``spec`` (cached by key), and
    the tag student's track probabilities when the model has one (``tag_fingerprint()``; cached
    beside the vectors under that fingerprint, so another student of the same model runs only
    the student)."""
    m = spec.model
    sr = int(m.SAMPLE_RATE)
    tag_fp = getattr(m, "tag_fingerprint", lambda: None)()
    tags: list[np.ndarray] = []
    queries = queries if queries is not None else {}
    folder = cache / spec.key if cache is not None else None
    if folder is not None:
        folder.mkdir(parents=True, exist_ok=True)
    segs, seg_track, vecs, qvecs = [], [], [], []
    for i, t in enumerate(tracks):
        f = folder / f"{_key(t, s)}.npz" if folder is not None else None
        ft = f.with_suffix(f".tags-{tag_fp[:16]}.npz") if f is not None and tag_fp else None
        z = np.load(f) if f is not None and f.is_file() else None
        tg = np.load(ft)["tags"] if ft is not None and ft.is_file() else None
        if tg is None and z is not None and "tags_fp" in z and str(z["tags_fp"]) == tag_fp:
            tg = z["tags"]  # an older cache: the tags beside the vectors
        dur = None if t.end_s is None else t.end_s - t.start_s
        if z is not None:
            seg, vec, qv = z["seg"], z["vec"], z["query"]
            if tag_fp is not None and tg is None:  # another student: its tags only
                wav = load_audio(t.path, sr, offset_s=t.start_s, duration_s=dur)
                tg = (tag_waveform(m, wav, s.segment_s, s.hop_s) or (None,))[0]
        else:
            wav = load_audio(t.path, sr, offset_s=t.start_s, duration_s=dur)
            if hasattr(m, "embed_track"):  # a model that embeds a whole track itself
                seg, vec = m.embed_track(wav, s.segment_s, s.hop_s)
            else:
                emb = embed_waveform(m, wav, s.segment_s, s.hop_s)
                seg, vec, tg = emb.seg_vectors, emb.vector, emb.tags
            seg, vec = np.asarray(seg, np.float32), np.asarray(vec, np.float32)
            if i not in queries:
                queries[i] = excerpt_query(t, s)[0]
            q = resample(queries[i], QUERY_SR, sr)
            qv = m.embed_windows(q[None], np.array([len(q)]))[0].astype(np.float32)
            if f is not None:
                _save(f, seg=seg, vec=vec, query=qv)
        if ft is not None and tg is not None and not ft.is_file():
            _save(ft, tags=np.asarray(tg, np.float32))
        segs.append(seg)
        seg_track.append(np.full(len(seg), i))
        vecs.append(vec)
        qvecs.append(qv)
        if tag_fp is not None:
            tags.append(np.asarray(tg, np.float32))
        if (i + 1) % 10 == 0:
            log.info("%s: %d/%d tracks embedded", spec.name, i + 1, len(tracks))
    return Vectors(np.concatenate(segs), np.concatenate(seg_track), np.stack(vecs),
                   np.stack(qvecs), np.stack(tags) if tag_fp is not None else None)


__all__ = ["Settings", "Track", "Vectors", "embed_tracks", "excerpt_query"]
