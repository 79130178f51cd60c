"""Shared fixtures: small audio files generated in several formats, rates and channel counts.

The environment variables below keep every test offline (the Hugging Face hub is unreachable
on CI machines) and must be set before any test module imports a hub-aware library.
"""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

FORMATS = {  # extension -> (libsndfile format, subtype, lossless)
    "wav": ("WAV", "PCM_16", True),
    "flac": ("FLAC", "PCM_24", True),
    "ogg": ("OGG", "VORBIS", False),
    "opus": ("OGG", "OPUS", False),
    "mp3": ("MP3", "MPEG_LAYER_III", False),
}


@dataclass(frozen=True)
class AudioFixture:
    """A generated file and the exact signal written into it."""

    path: Path
    sr: int  # Hz
    channels: int
    freqs: tuple[float, ...]  # one tone per channel, Hz
    signal: np.ndarray  # (T, C) float32 as written
    lossless: bool

    @property
    def duration_s(self) -> float:
        return len(self.signal) / self.sr


def tones(sr: int, seconds: float, freqs: tuple[float, ...], amp: float = 0.5) -> np.ndarray:
    """``(T, C)`` float32 sine tones, one frequency per channel."""
    t = np.arange(int(round(sr * seconds))) / sr
    return np.stack([amp * np.sin(2 * np.pi * f * t) for f in freqs], axis=1).astype(np.float32)


def write(path: Path, data: np.ndarray, sr: int, ext: str | None = None) -> Path:
    ext = ext or path.suffix.lstrip(".")
    fmt, sub, _ = FORMATS[ext]
    sf.write(str(path), data, sr, format=fmt, subtype=sub)
    return path


@pytest.fixture(scope="session")
def audio_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("audio")


@pytest.fixture(scope="session")
def audio_files(audio_dir) -> list[AudioFixture]:
    """Every format × a few (rate, channels) combinations, 2 s of tones each."""
    combos = [(8000, 1), (22050, 2), (44100, 2), (48000, 6)]
    out = []
    for ext, (_, _, lossless) in FORMATS.items():
        for sr, ch in combos:
            if ext == "opus" and sr not in (8000, 48000):
                continue  # Opus only codes 8/12/16/24/48 kHz
            if ext == "mp3" and (sr == 8000 or ch > 2):
                continue  # MPEG layer III: mono/stereo at 16 kHz and above
            # channel 6 of a 5.1 file is the LFE, which lossy codecs low-pass: give it a bass tone
            freqs = tuple(80.0 if c == 5 else 300.0 + 110.0 * c for c in range(ch))
            data = tones(sr, 2.0, freqs)
            p = write(audio_dir / f"tone_{sr}_{ch}ch.{ext}", data, sr, ext)
            out.append(AudioFixture(p, sr, ch, freqs, data, lossless))
    return out


def dominant_freq(x: np.ndarray, sr: int) -> float:
    """Frequency (Hz) of the largest FFT bin of ``(T,)`` audio: an independent pitch check."""
    spec = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.argmax(spec) * sr / len(x))


@pytest.fixture(scope="module")
def one_thread():
    """Tiny models: one torch thread avoids OpenMP spin-waits on a shared, loaded CPU."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def ui_library(tmp_path_factory) -> Path:
    """A library of four 12 s tones (``FREQS`` Hz) indexed with the tone model."""
    from tone_model import ToneModel
    from ui_library import FREQS, tone

    from lyrebird.index import Library

    root = tmp_path_factory.mktemp("ui")
    music = root / "music"
    music.mkdir()
    for f in FREQS:
        tone(music / f"tone{f}.flac", f)
    lib = Library.create(root / "lib", ToneModel())
    assert len(lib.add([music]).added) == len(FREQS)
    lib.close()
    return root / "lib"


@pytest.fixture(scope="module")
def ui_service(ui_library):
    """A :class:`lyrebird.ui.LibraryService` over ``ui_library`` (200 kB / 20 s upload limits)."""
    from tone_model import ToneModel

    from lyrebird.ui import LibraryService, Limits

    return LibraryService(ui_library, model=ToneModel(), limits=Limits(200_000, 20.0))


DEMO_METAL_PACKAGES = ["fretsonfire-songs-muldjord", "fretsonfire-songs-sectoid"]
"""The demo's 8 real metal tracks (Frets on Fire songs; test split of the real corpus)."""


@pytest.fixture(scope="session")
def demo_metal_files(tmp_path_factory) -> list[Path]:
    """The demo's 8 metal recordings as the demo builds them (song and guitar stems mixed to
    FLAC); skipped where ``.ci/setup`` could not install their Debian packages."""
    from lyrebird.demo_real import build_real_part
    from lyrebird.train.corpora.debian_packages import selected_packages

    out = tmp_path_factory.mktemp("metal")
    part = build_real_part(out, selected_packages(names=DEMO_METAL_PACKAGES), workers=1)
    if part.report["missing"]:
        pytest.skip(f"not installed: {part.report['install']}")
    return part.files()
