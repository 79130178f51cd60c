"""Lyrebird audio encoders: audio I/O, chunking, mel front-ends (and, later, backbones).

``encoders`` is the bottom layer of the package: it imports nothing from ``mulan``, ``index``,
``ui`` or ``train``.
"""

from .audio import (
    AUDIO_EXTENSIONS,
    AudioError,
    AudioInfo,
    SilentAudioWarning,
    audio_info,
    is_audio_path,
    load_audio,
    prepare_waveform,
    resample,
    stream_audio,
    to_mono,
)
from .chunking import Chunks, chunk, chunk_starts, stream_chunks
from .mel import MEL_PRESETS, MelConfig, MelFrontend, fit_normalization, get_mel_config

__all__ = [
    "AUDIO_EXTENSIONS",
    "MEL_PRESETS",
    "AudioError",
    "AudioInfo",
    "Chunks",
    "MelConfig",
    "MelFrontend",
    "SilentAudioWarning",
    "audio_info",
    "chunk",
    "chunk_starts",
    "fit_normalization",
    "get_mel_config",
    "is_audio_path",
    "load_audio",
    "prepare_waveform",
    "resample",
    "stream_audio",
    "stream_chunks",
    "to_mono",
]
