"""Lyrebird audio encoders: audio I/O, chunking, mel front-ends (and, later, backbones).

``encoders`` is the bottom layer of the package: it imports nothing from ``mulan``, ``index``,
``ui`` or ``train``.
"""

from __future__ import annotations

from lyrebird.core.lazy import lazy_exports

# names load on first use: `from lyrebird.encoders import AudioError` imports only `audio`
# (a text query never loads torch through this package)
_EXPORTS: dict[str, str] = {
    "CheckpointError": "lyrebird.core.checkpoint",
    "load_checkpoint": "lyrebird.core.checkpoint",
    "save_checkpoint": "lyrebird.core.checkpoint",
    "best_device": "lyrebird.core.device",
    "cpu_bf16_native": "lyrebird.core.device",
    "AUDIO_EXTENSIONS": ".audio",
    "AudioError": ".audio",
    "AudioInfo": ".audio",
    "SilentAudioWarning": ".audio",
    "audio_info": ".audio",
    "is_audio_path": ".audio",
    "load_audio": ".audio",
    "prepare_waveform": ".audio",
    "resample": ".audio",
    "stream_audio": ".audio",
    "to_mono": ".audio",
    "AudioEncoder": ".base",
    "ClipOutput": ".base",
    "Chunks": ".chunking",
    "chunk": ".chunking",
    "chunk_starts": ".chunking",
    "stream_chunks": ".chunking",
    "MEL_PRESETS": ".mel",
    "MelConfig": ".mel",
    "MelFrontend": ".mel",
    "fit_normalization": ".mel",
    "get_mel_config": ".mel",
    "get_encoder": ".registry",
    "list_encoders": ".registry",
}

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

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
