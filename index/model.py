"""What a library embeds with: a music–text model (MuLan) or, for audio-only use, an encoder.

A library stores the *fingerprint* of its model and refuses vectors from any other model.
"""

from __future__ import annotations

import hashlib
import json
from typing import Protocol, runtime_checkable

import numpy as np
import torch
import torch.nn.functional as F

from lyrebird.core.fingerprint import module_fingerprint
from lyrebird.encoders import AudioEncoder, get_encoder


@runtime_checkable
class LibraryModel(Protocol):
    """The embedding model of a library."""

    name: str
    SAMPLE_RATE: int  # Hz of the audio given to embed_segments
    DIM: int  # vector width

    def fingerprint(self) -> str:
        """Stable identity of the weights and config (hex)."""
        ...

    def embed_segments(self, audio: list[np.ndarray]) -> np.ndarray:
        """``B`` mono float32 clips at ``SAMPLE_RATE`` → L2-normalised ``(B, DIM)`` float32."""
        ...

    @property
    def has_text(self) -> bool:
        """Whether :meth:`embed_text` works (text→music search, zero-shot tags)."""
        ...

    def embed_text(self, texts: list[str]) -> np.ndarray:
        """``N`` strings → L2-normalised ``(N, DIM)`` float32."""
        ...


def state_fingerprint(module: torch.nn.Module, config: object) -> str:
    """Fingerprint of a module's weights (``module_fingerprint``) combined with a config."""
    blob = json.dumps([module_fingerprint(module), config], sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


class EncoderModel:
    """Audio-only library model over any Lyrebird encoder (similar-track and moment search)."""

    def __init__(self, encoder: AudioEncoder, name: str):
        self.encoder, self.name = encoder, name
        self.SAMPLE_RATE, self.DIM = encoder.SAMPLE_RATE, encoder.DIM
        self._fp: str | None = None

    def fingerprint(self) -> str:
        if self._fp is None:
            cfg = getattr(self.encoder, "cfg", None)
            self._fp = state_fingerprint(self.encoder, [type(self.encoder).__name__, repr(cfg),
                                                        self.DIM])
        return self._fp

    def embed_segments(self, audio: list[np.ndarray]) -> np.ndarray:
        vecs = [self.encoder.embed(a, self.SAMPLE_RATE) for a in audio]
        return F.normalize(torch.stack(vecs), dim=1).numpy().astype(np.float32)

    @property
    def has_text(self) -> bool:
        return False

    def embed_text(self, texts: list[str]) -> np.ndarray:
        raise ValueError(f"model {self.name!r} is audio-only: text search and zero-shot tags need "
                         "a music–text model (create the library with --model default)")


class MuLanModel:
    """Library model over a :class:`lyrebird.mulan.MuLan` (text and audio in one space)."""

    def __init__(self, mulan, name: str):
        self.mulan, self.name = mulan, name
        self.SAMPLE_RATE = int(mulan.audio.sample_rate)
        self.DIM = int(mulan.cfg.dim)
        self._fp: str | None = None

    def fingerprint(self) -> str:
        if self._fp is None:
            self._fp = state_fingerprint(self.mulan, ["MuLan", self.DIM])
        return self._fp

    def embed_segments(self, audio: list[np.ndarray]) -> np.ndarray:
        v = self.mulan.embed_audio_batch(list(audio), self.SAMPLE_RATE)
        return F.normalize(torch.as_tensor(v).float(), dim=1).numpy()

    @property
    def has_text(self) -> bool:
        return True

    def embed_text(self, texts: list[str]) -> np.ndarray:
        v = torch.as_tensor(self.mulan.embed_text(list(texts))).float()
        return F.normalize(v, dim=1).numpy()


def load_model(spec: str = "default", device: str | None = "cpu") -> LibraryModel:
    """Resolve a model spec: ``"default"`` or a MuLan checkpoint directory → :class:`MuLanModel`;
    ``"encoder:<name or path>"`` → audio-only :class:`EncoderModel` (e.g. ``encoder:default``);
    ``"py:<module>:<factory>"`` → a plug-in object implementing :class:`LibraryModel`.
    """
    if spec.startswith("py:"):
        import importlib

        try:
            _, mod, attr = spec.split(":", 2)
            m = getattr(importlib.import_module(mod), attr)()
        except (ValueError, ImportError, AttributeError) as e:
            raise ValueError(f"model {spec!r}: expected 'py:<module>:<factory>' ({e})") from e
        if not isinstance(m, LibraryModel):
            raise ValueError(f"model {spec!r} does not implement the LibraryModel protocol")
        m.name = spec
        return m
    if spec.startswith("encoder:"):
        name = spec.split(":", 1)[1]
        return EncoderModel(get_encoder(name, device=device), spec)
    from lyrebird.mulan import MuLan

    m = MuLan.load(spec)
    if device is not None:
        m = m.to(device)
    return MuLanModel(m.eval(), spec)
