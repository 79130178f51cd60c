"""Cut waveforms into fixed-length clips, in memory or streamed from disk in bounded memory.

Policy for the last partial chunk (``last=``):

* ``"shift"`` (default): the final window is moved back so that it ends exactly at the end of
  the track. Every chunk is real audio, the tail is never lost, and no silence dilutes a
  pooled embedding; the last chunk may overlap its neighbour by more than ``clip_s - hop_s``.
* ``"pad"``: the final window starts on the hop grid and is zero-padded to ``clip_s``;
  ``Chunks.valid`` holds its real length.
* ``"drop"``: a trailing partial window is discarded.

Audio shorter than one clip always gives exactly one chunk, zero-padded (``valid`` < clip).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

import numpy as np

from .audio import AudioError, stream_audio

LastPolicy = Literal["shift", "pad", "drop"]


@dataclass(frozen=True)
class Chunks:
    """Clips cut from one waveform.

    Attributes:
        audio: ``(N, L)`` float32, ``L = round(clip_s * sr)`` samples.
        starts_s: ``(N,)`` start time of each clip in the source, seconds.
        valid: ``(N,)`` number of real (non-padded) samples in each clip.
        sr: sample rate in Hz.
    """

    audio: np.ndarray
    starts_s: np.ndarray
    valid: np.ndarray
    sr: int

    def __len__(self) -> int:
        return len(self.audio)

    @property
    def ends_s(self) -> np.ndarray:
        """``(N,)`` end time of the real audio in each clip, seconds."""
        return self.starts_s + self.valid / self.sr


def _check(sr: int, clip_s: float, hop_s: float | None, last: str) -> tuple[int, int]:
    if sr <= 0:
        raise ValueError(f"sr must be a positive rate in Hz, got {sr}")
    if clip_s <= 0:
        raise ValueError(f"clip_s must be > 0 seconds, got {clip_s}")
    hop_s = clip_s if hop_s is None else hop_s
    if hop_s <= 0:
        raise ValueError(f"hop_s must be > 0 seconds, got {hop_s}")
    if last not in ("shift", "pad", "drop"):
        raise ValueError(f"last must be 'shift', 'pad' or 'drop', got {last!r}")
    return int(round(clip_s * sr)), max(1, int(round(hop_s * sr)))


def chunk_starts(n_samples: int, clip: int, hop: int, last: LastPolicy = "shift") -> np.ndarray:
    """Start sample of every chunk of ``clip`` samples at hop ``hop`` over ``n_samples``."""
    if n_samples <= clip:
        return np.zeros(1, dtype=np.int64)
    full = np.arange(0, n_samples - clip + 1, hop, dtype=np.int64)
    tail = full[-1] + clip < n_samples  # samples remain after the last full window
    if not tail or last == "drop":
        return full
    if last == "shift":
        return np.append(full, n_samples - clip)
    nxt = full[-1] + hop
    return np.append(full, nxt) if nxt < n_samples else full


def chunk(
    wav: np.ndarray,
    sr: int,
    clip_s: float,
    hop_s: float | None = None,
    *,
    last: LastPolicy = "shift",
) -> Chunks:
    """Cut ``(T,)`` audio at ``sr`` Hz into clips of ``clip_s`` s every ``hop_s`` s (default: no overlap).

    See the module docstring for the ``last`` policy. Returns :class:`Chunks` with ``audio``
    ``(N, round(clip_s*sr))``. The array is a copy of at most ``N * L`` samples; for tracks
    too long to hold, use :func:`stream_chunks`.
    """
    clip, hop = _check(sr, clip_s, hop_s, last)
    wav = np.asarray(wav, dtype=np.float32)
    if wav.ndim != 1:
        raise ValueError(f"chunk expects a mono (T,) waveform, got shape {wav.shape}")
    if wav.size == 0:
        raise AudioError(None, "cannot chunk an empty waveform")
    starts = chunk_starts(len(wav), clip, hop, last)
    out = np.zeros((len(starts), clip), dtype=np.float32)
    valid = np.empty(len(starts), dtype=np.int64)
    for i, s in enumerate(starts):
        seg = wav[s : s + clip]
        out[i, : len(seg)] = seg
        valid[i] = len(seg)
    return Chunks(out, starts / sr, valid, sr)


def stream_chunks(
    path: str | os.PathLike,
    sr: int,
    clip_s: float,
    hop_s: float | None = None,
    *,
    batch: int = 16,
    last: LastPolicy = "shift",
) -> Iterator[Chunks]:
    """Decode ``path`` incrementally and yield batches of at most ``batch`` clips.

    Memory is bounded by ``batch * clip_s`` seconds of audio plus one decode block, however
    long the file. The clips, concatenated over batches, equal ``chunk(load_audio(path, sr),
    ...)`` with the same policy (up to resampler edge effects).
    """
    clip, hop = _check(sr, clip_s, hop_s, last)
    if batch <= 0:
        raise ValueError(f"batch must be > 0, got {batch}")
    buf = np.zeros(0, dtype=np.float32)
    offset = 0  # source sample index of buf[0]
    next_start = 0
    out = np.zeros((batch, clip), dtype=np.float32)  # filled in place, one batch at a time
    starts: list[int] = []
    valid: list[int] = []

    def add(start: int, seg: np.ndarray) -> None:
        out[len(starts), : len(seg)] = seg
        out[len(starts), len(seg) :] = 0.0
        starts.append(start)
        valid.append(len(seg))

    def flush() -> Chunks:
        res = Chunks(out[: len(starts)].copy(), np.array(starts) / sr,
                     np.array(valid, dtype=np.int64), sr)
        starts.clear()
        valid.clear()
        return res

    block_s = max(clip_s, 10.0)
    for block in stream_audio(path, sr, block_s=block_s):
        buf = np.concatenate([buf, block])
        while next_start + clip <= offset + len(buf):
            a = next_start - offset
            add(next_start, buf[a : a + clip])
            next_start += hop
            if len(starts) == batch:
                yield flush()
        keep_from = min(next_start, offset + len(buf)) - offset
        # keep enough history for a final shifted window
        keep_from = max(0, min(keep_from, len(buf) - clip))
        buf, offset = buf[keep_from:], offset + keep_from
    total = offset + len(buf)
    if total == 0:
        raise AudioError(path, "contains no audio samples")
    if next_start == 0:
        add(0, buf[:clip])
    elif next_start - hop + clip < total and (last == "shift" or
                                              (last == "pad" and next_start < total)):
        s = total - clip if last == "shift" else next_start
        a = s - offset
        add(s, buf[a : a + clip])
    if starts:
        yield flush()
