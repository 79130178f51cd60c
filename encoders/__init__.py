"""Lyrebird audio encoders: audio I/O, chunking, mel front-ends (and, later, backbones).

``encoders`` is the bottom layer of the package: it imports nothing from ``mulan``, ``index``,
``ui`` or ``train``.
"""

from lyrebird.core.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from lyrebird.core.device import best_device, cpu_bf16_native

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
from .base import AudioEncoder, ClipOutput
from .chunking import Chunks, chunk, chunk_starts, stream_chunks
from .mel import MEL_PRESETS, MelConfig, MelFrontend, fit_normalization, get_mel_config
from .registry import get_encoder, list_encoders

__all__ = [
    "AUDIO_EXTENSIONS",
    "MEL_PRESETS",
    "AudioEncoder",
    "AudioError",
    "AudioInfo",
    "CheckpointError",
    "Chunks",
    "ClipOutput",
    "MelConfig",
    "MelFrontend",
    "SilentAudioWarning",
    "audio_info",
    "best_device",
    "chunk",
    "chunk_starts",
    "cpu_bf16_native",
    "fit_normalization",
    "get_encoder",
    "get_mel_config",
    "is_audio_path",
    "list_encoders",
    "load_audio",
    "load_checkpoint",
    "prepare_waveform",
    "resample",
    "save_checkpoint",
    "stream_audio",
    "stream_chunks",
    "to_mono",
]
