"""Audio I/O: decode common formats to clean, model-ready mono float32 waveforms.

Decoding is done by libsndfile (through ``soundfile``), which reads WAV, FLAC, Ogg/Vorbis, Ogg/Opus
and MP3 among others; resampling uses libsoxr (through ``soxr``) at its very-high-quality setting.

Every failure raises :class:`AudioError`, whose message names the file and the reason. All-silent
input is legal (a silent intro, a test tone of zeros) and only emits :class:`SilentAudioWarning`.
"""

from __future__ import annotations

import os
import re
import sys
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import soundfile as sf
import soxr

if TYPE_CHECKING:
    import torch

AUDIO_EXTENSIONS: tuple[str, ...] = (
    ".wav", ".wave", ".flac", ".ogg", ".oga", ".opus", ".mp3",
    ".aif", ".aiff", ".au", ".w64", ".caf",
)
"""File extensions that :func:`is_audio_path` accepts (lower case)."""

RESAMPLE_QUALITY = "VHQ"
"""libsoxr quality preset used by :func:`resample` (very high quality, linear phase)."""


class AudioError(ValueError):
    """An audio file or waveform cannot be used. ``path`` and ``reason`` are kept as attributes."""

    def __init__(self, path: str | os.PathLike | None, reason: str):
        self.path = None if path is None else str(path)
        self.reason = reason
        where = "<waveform>" if path is None else f"'{path}'"
        super().__init__(f"{where}: {reason}")


class SilentAudioWarning(UserWarning):
    """The audio decoded fine but every sample is zero."""


@dataclass(frozen=True)
class AudioInfo:
    """Header facts about an audio file, read without decoding it."""

    path: str
    sample_rate: int  # Hz
    channels: int
    frames: int  # samples per channel
    duration_s: float
    format: str  # libsndfile major format, e.g. "WAV", "FLAC", "OGG", "MP3"
    subtype: str  # e.g. "PCM_16", "VORBIS", "OPUS"


def is_audio_path(path: str | os.PathLike) -> bool:
    """True when ``path`` has one of :data:`AUDIO_EXTENSIONS` (case-insensitive)."""
    return Path(path).suffix.lower() in AUDIO_EXTENSIONS


_WAV_SHOULD_BE = re.compile(r"^data\s*:\s*(\d+)\s*\(should be (\d+)\)", re.MULTILINE)


def _open(path: str | os.PathLike) -> sf.SoundFile:
    """Open ``path`` with libsndfile, turning every failure into an :class:`AudioError`."""
    p = Path(path)
    if not p.exists():
        raise AudioError(path, "file not found")
    if not p.is_file():
        raise AudioError(path, "not a regular file")
    size = p.stat().st_size
    if size == 0:
        raise AudioError(path, "empty file (0 bytes)")
    try:
        f = sf.SoundFile(str(p))
    except (sf.LibsndfileError, RuntimeError, TypeError) as err:
        msg = str(err).split(":", 1)[-1].strip().rstrip(".") or type(err).__name__
        if "does not exist or is not a regular file" in msg:  # it is one: libsndfile's MP3
            msg = _sniff(p)  # reader says this of any file without an MPEG frame
        raise AudioError(path, f"not a decodable audio file: {msg}; expected one of "
                               f"{', '.join(e.lstrip('.') for e in AUDIO_EXTENSIONS)}") from err
    try:
        if f.samplerate <= 0 or f.channels <= 0:
            raise AudioError(path, f"invalid header: {f.samplerate} Hz, {f.channels} channels")
        if f.frames <= 0:
            raise AudioError(path, "contains no audio samples (zero-length or truncated)")
        _check_truncation(path, f)
    except BaseException:
        f.close()
        raise
    return f


def _sniff(p: Path) -> str:
    """What a file libsndfile refused holds, from its first bytes (for the message)."""
    try:
        with open(p, "rb") as f:
            head = f.read(512)
    except OSError as e:
        return f"unreadable ({e.strerror or e})"
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    if text is not None and text.strip() and all(c.isprintable() or c in "\r\n\t" for c in text):
        return f"it holds text ({text.strip()[:40]!r}…), not audio"
    if p.suffix.lower() == ".mp3":
        return "no MPEG audio frame found (not an MP3, or damaged)"
    return "format not recognised"


def _check_truncation(path: str | os.PathLike, f: sf.SoundFile) -> None:
    """Raise if libsndfile's header parse shows the file was cut short.

    libsndfile silently shortens truncated WAV and Ogg streams; its ``extra_info`` report still
    says so ("data : N (should be M)", "Last page lacks an end-of-stream bit").
    """
    info = f.extra_info or ""
    m = _WAV_SHOULD_BE.search(info)
    if m and int(m.group(1)) > int(m.group(2)) and int(m.group(1)) < 0xFFFFFFF0:
        raise AudioError(path, f"truncated: header declares {m.group(1)} data bytes, "
                               f"only {m.group(2)} present")
    if f.format == "OGG" and "lacks an end-of-stream bit" in info:
        raise AudioError(path, "truncated: the Ogg stream ends without an end-of-stream page")


def audio_info(path: str | os.PathLike) -> AudioInfo:
    """Read the header of ``path``: sample rate (Hz), channels, frames, duration (s), format."""
    with _open(path) as f:
        return AudioInfo(str(path), f.samplerate, f.channels, f.frames,
                         f.frames / f.samplerate, f.format, f.subtype)


def to_mono(wav: np.ndarray) -> np.ndarray:
    """Downmix ``(T,)``, ``(T, C)`` (soundfile layout) to ``(T,)`` by averaging channels."""
    if wav.ndim == 1:
        return wav
    if wav.ndim != 2:
        raise AudioError(None, f"expected a (T,) or (T, C) array, got shape {wav.shape}")
    c = wav.shape[1]
    if c == 1:
        return wav[:, 0]
    if c > 8:
        return wav.mean(axis=1, dtype=np.float64).astype(np.float32)
    # the same float64 sum as mean(axis=1) (numpy adds up to 8 values in order), column by
    # column: a strided add is ~10x faster than numpy's reduction over a short inner axis
    acc = wav[:, 0].astype(np.float64)
    for k in range(1, c):
        acc += wav[:, k]
    return (acc / c).astype(np.float32)


def resample(wav: np.ndarray, sr_in: int, sr_out: int) -> np.ndarray:
    """Resample ``(T,)`` float32 from ``sr_in`` Hz to ``sr_out`` Hz with libsoxr (VHQ).

    Returns ``(round(T * sr_out / sr_in),)`` float32; a no-op when the rates are equal.
    """
    if sr_in <= 0 or sr_out <= 0:
        raise AudioError(None, f"sample rates must be positive, got {sr_in} -> {sr_out} Hz")
    if sr_in == sr_out:
        return np.ascontiguousarray(wav, dtype=np.float32)
    out = soxr.resample(np.ascontiguousarray(wav, dtype=np.float32), sr_in, sr_out,
                        quality=RESAMPLE_QUALITY)
    return np.asarray(out, dtype=np.float32)


def _finalize(wav: np.ndarray, path: str | os.PathLike | None) -> np.ndarray:
    """Check finiteness, warn on silence, clip to [-1, 1]; returns float32 ``(T,)``."""
    if wav.size == 0:
        raise AudioError(path, "contains no audio samples in the requested range")
    if not np.isfinite(wav).all():
        bad = int((~np.isfinite(wav)).sum())
        raise AudioError(path, f"contains {bad} NaN/Inf samples; expected finite values")
    peak = float(np.abs(wav).max())
    if peak == 0.0:
        where = "<waveform>" if path is None else f"'{path}'"
        warnings.warn(f"{where}: all samples are silent", SilentAudioWarning, stacklevel=3)
    if peak > 1.0:
        wav = np.clip(wav, -1.0, 1.0)
    return np.ascontiguousarray(wav, dtype=np.float32)


def _frame_range(path, f: sf.SoundFile, offset_s: float, duration_s: float | None):
    if offset_s < 0:
        raise AudioError(path, f"offset_s must be >= 0 seconds, got {offset_s}")
    if duration_s is not None and duration_s <= 0:
        raise AudioError(path, f"duration_s must be > 0 seconds, got {duration_s}")
    start = int(round(offset_s * f.samplerate))
    if start >= f.frames:
        raise AudioError(path, f"offset {offset_s:.3f} s is past the end "
                               f"({f.frames / f.samplerate:.3f} s)")
    stop = f.frames if duration_s is None else min(f.frames,
                                                   start + int(round(duration_s * f.samplerate)))
    return start, stop


def _read(path, f: sf.SoundFile, start: int, n: int) -> np.ndarray:
    """Read ``n`` frames from ``start`` as ``(n, C)`` float32, seeking instead of decoding."""
    try:
        f.seek(start)
        data = f.read(n, dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError) as err:
        raise AudioError(path, f"corrupt or truncated audio data ({err})") from err
    # Lossy decoders may deliver a few frames fewer than the header promises (Opus pre-skip,
    # MP3 encoder delay); a real truncation loses far more.
    slack = 0 if f.format in ("WAV", "WAVEX", "FLAC", "AIFF") else max(4096, n // 1000)
    if len(data) < n - slack:
        raise AudioError(path, f"truncated: expected {n} frames from frame {start}, "
                               f"decoded {len(data)}")
    return data


def load_audio(
    path: str | os.PathLike,
    sr: int | None = 16000,
    *,
    offset_s: float = 0.0,
    duration_s: float | None = None,
    mono: bool = True,
) -> np.ndarray:
    """Decode ``path`` to float32 in [-1, 1], downmixed and resampled.

    Args:
        path: wav, flac, ogg/vorbis, opus, mp3 (anything libsndfile reads).
        sr: target sample rate in Hz; ``None`` keeps the file's rate.
        offset_s: start of the segment to read, seconds. Only the segment is decoded
            (libsndfile seeks), so reading 10 s of a 2 h file is cheap.
        duration_s: length of the segment in seconds (clipped at the end of file); ``None``
            reads to the end.
        mono: average all channels into one. With ``mono=False`` the result is ``(C, T)``.

    Returns:
        ``(T,)`` float32 (``(C, T)`` when ``mono=False``) at ``sr`` Hz.

    Raises:
        AudioError: missing, empty, zero-length, truncated, corrupt or non-audio files, and
            NaN/Inf samples. All-silent audio only warns with :class:`SilentAudioWarning`.
    """
    with _open(path) as f:
        start, stop = _frame_range(path, f, offset_s, duration_s)
        data = _read(path, f, start, stop - start)
        native = f.samplerate
    if mono:
        wav = to_mono(data)
        if sr is not None:
            wav = resample(wav, native, sr)
        return _finalize(wav, path)
    chans = [data[:, c] if sr is None else resample(data[:, c], native, sr)
             for c in range(data.shape[1])]
    out = np.stack(chans, axis=0)
    return _finalize(out, path)


def stream_audio(
    path: str | os.PathLike,
    sr: int | None = 16000,
    *,
    block_s: float = 30.0,
    offset_s: float = 0.0,
    duration_s: float | None = None,
) -> Iterator[np.ndarray]:
    """Decode ``path`` block by block: yields mono float32 ``(T_b,)`` blocks at ``sr`` Hz.

    Memory stays bounded by ``block_s`` seconds whatever the file length; concatenating the
    blocks equals :func:`load_audio` up to resampler edge effects (< 1e-4). Errors are the
    same :class:`AudioError` cases as :func:`load_audio`, raised when reached.
    """
    if block_s <= 0:
        raise AudioError(path, f"block_s must be > 0 seconds, got {block_s}")
    with _open(path) as f:
        start, stop = _frame_range(path, f, offset_s, duration_s)
        native = f.samplerate
        target = native if sr is None else sr
        rs = None if target == native else soxr.ResampleStream(
            native, target, 1, dtype="float32", quality=RESAMPLE_QUALITY)
        block = max(1, int(block_s * native))
        pos, any_sound = start, False
        while pos < stop:
            n = min(block, stop - pos)
            wav = to_mono(_read(path, f, pos, n))
            pos += n
            if not np.isfinite(wav).all():
                first = pos - n + int(np.flatnonzero(~np.isfinite(wav))[0])
                raise AudioError(path, f"contains NaN/Inf samples from {first / native:.3f} s "
                                       f"(sample {first}); expected finite values")
            if rs is not None:
                wav = rs.resample_chunk(wav, last=pos >= stop)
            any_sound = any_sound or bool(np.any(wav != 0))
            if len(wav):
                yield np.clip(wav, -1.0, 1.0).astype(np.float32, copy=False)
        if not any_sound:
            warnings.warn(f"'{path}': all samples are silent", SilentAudioWarning, stacklevel=2)


def prepare_waveform(wav: np.ndarray | torch.Tensor, sr: int, target_sr: int) -> np.ndarray:
    """Validate an in-memory waveform and bring it to mono float32 ``(T,)`` at ``target_sr`` Hz.

    Accepts ``(T,)``, ``(C, T)`` with C ≤ 8 (channels first, as torch code writes it) or
    ``(T, C)`` arrays or tensors. This is the entry point encoders use for ``embed(wav, sr)``.
    """
    torch = sys.modules.get("torch")  # a tensor exists only once torch is loaded
    if torch is not None and isinstance(wav, torch.Tensor):
        wav = wav.detach().to("cpu", torch.float32).numpy()
    wav = np.asarray(wav)
    if not np.issubdtype(wav.dtype, np.floating) and not np.issubdtype(wav.dtype, np.integer):
        raise AudioError(None, f"expected a numeric waveform, got dtype {wav.dtype}")
    if np.issubdtype(wav.dtype, np.integer):
        wav = wav.astype(np.float32) / float(np.iinfo(wav.dtype).max)
    wav = wav.astype(np.float32, copy=False)
    if wav.ndim == 2:
        wav = to_mono(wav.T if wav.shape[0] <= 8 and wav.shape[0] < wav.shape[1] else wav)
    elif wav.ndim != 1:
        raise AudioError(None, f"expected a (T,), (C, T) or (T, C) waveform, got {wav.shape}")
    if not isinstance(sr, int | np.integer) or sr <= 0:
        raise AudioError(None, f"sr must be a positive integer in Hz, got {sr!r}")
    wav = _finalize(wav, None)
    return resample(wav, int(sr), target_sr)
