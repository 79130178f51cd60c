"""Feature extractors for probing: frozen encoders (every layer) and hand-crafted baselines.

An extractor maps mono audio at its ``sample_rate`` to named feature vectors: ``"embed"`` (the
one a probe report ranks) and, for encoders, ``"layer0"`` … ``"layerL"`` (time-averaged hidden
states, ``layer0`` = the token input) for layer-wise probing. ``fingerprint()`` identifies the
weights and settings, so cached features are reused only for the same extractor. An encoder is
named by an ``encoder`` spec (docs/architecture.md, "Naming a model";
``default?embed_mode=square`` included) and wrapped by the one encoder wrapper,
:class:`~lyrebird.encoders.embedding.EncoderEmbedding`, with the fingerprint a library and the
real-music evaluation give the same spec.

Hand-crafted baselines use the project's own ``myna`` mel front-end (16 kHz, 128 Slaney mels,
ln) and numpy/scipy:

* ``logmel``: mean and standard deviation over time of the log-mel bands (256-d);
* ``mfcc``: orthonormal DCT-II of the log-mel bands, first 20 coefficients, mean and std (40-d);
* ``chroma``: STFT power folded onto 12 pitch classes (55 Hz–4.2 kHz, each frame normalised to
  sum 1), mean and std (24-d).
"""

from __future__ import annotations

import hashlib
import json
from typing import Protocol

import numpy as np
import torch
from scipy.fft import dct

from lyrebird.core.configs import config_to_dict
from lyrebird.encoders import MelFrontend, get_encoder
from lyrebird.encoders.embedding import EncoderEmbedding

BASELINES: tuple[str, ...] = ("logmel", "mfcc", "chroma")
"""Hand-crafted baselines; ``chroma`` is used for key tasks only."""


class Extractor(Protocol):
    """Audio → named feature vectors."""

    name: str
    sample_rate: int  # Hz of the audio given to __call__

    def fingerprint(self) -> str: ...

    def __call__(self, wav: np.ndarray) -> dict[str, np.ndarray]:
        """``(T,)`` float32 mono at ``sample_rate`` → ``{"embed": (D,), ...}``."""
        ...


def _hash(obj: object) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _mean_std(x: np.ndarray) -> np.ndarray:
    """``(F, T)`` → ``(2F,)`` float32: mean then std over time."""
    return np.concatenate([x.mean(axis=1), x.std(axis=1)]).astype(np.float32)


class HandcraftedExtractor:
    """``logmel``, ``mfcc`` or ``chroma`` statistics (see the module docstring)."""

    N_MFCC = 20
    CHROMA_FFT, CHROMA_HOP, CHROMA_RANGE = 4096, 1024, (55.0, 4200.0)

    def __init__(self, kind: str):
        if kind not in BASELINES:
            raise ValueError(f"unknown hand-crafted feature {kind!r}; expected one of {BASELINES}")
        self.kind, self.name = kind, kind
        self.frontend = MelFrontend("myna")
        self.sample_rate = int(self.frontend.cfg.sample_rate)

    def fingerprint(self) -> str:
        return _hash(["handcrafted", 1, self.kind, config_to_dict(self.frontend.cfg), self.N_MFCC,
                      self.CHROMA_FFT, self.CHROMA_HOP, self.CHROMA_RANGE])

    def chroma(self, wav: np.ndarray) -> np.ndarray:
        """``(T,)`` audio → ``(12, frames)`` chroma (pitch class 0 = C), frames sum to 1."""
        x = torch.from_numpy(np.ascontiguousarray(wav, dtype=np.float32))
        if len(x) < self.CHROMA_FFT:
            x = torch.nn.functional.pad(x, (0, self.CHROMA_FFT - len(x)))
        spec = torch.stft(x, self.CHROMA_FFT, self.CHROMA_HOP, window=torch.hann_window(
            self.CHROMA_FFT), return_complex=True).abs().pow(2).numpy()  # (F, frames)
        freqs = np.fft.rfftfreq(self.CHROMA_FFT, 1.0 / self.sample_rate)
        lo, hi = self.CHROMA_RANGE
        use = (freqs >= lo) & (freqs <= hi)
        pc = np.round(12 * np.log2(freqs[use] / 440.0) + 69).astype(int) % 12
        fold = np.zeros((12, int(use.sum())), np.float32)
        fold[pc, np.arange(len(pc))] = 1.0
        c = fold @ spec[use]
        return c / np.maximum(c.sum(axis=0, keepdims=True), 1e-10)

    def __call__(self, wav: np.ndarray) -> dict[str, np.ndarray]:
        if self.kind == "chroma":
            return {"embed": _mean_std(self.chroma(wav))}
        with torch.inference_mode():
            mel = self.frontend(torch.from_numpy(np.ascontiguousarray(wav, dtype=np.float32)))
        mel = mel.reshape(mel.shape[-2], mel.shape[-1]).numpy().astype(np.float64)  # (128, frames)
        if self.kind == "mfcc":
            mel = dct(mel, type=2, norm="ortho", axis=0)[: self.N_MFCC]
        return {"embed": _mean_std(mel)}


def encoder_extractor(spec: str) -> EncoderEmbedding:
    """The extractor of an ``encoder`` spec (its ``encoder:`` kind may be left out), on CPU."""
    return EncoderEmbedding.load(spec, device="cpu")


def random_init_name(encoder_name: str) -> str | None:
    """``"family:preset"`` of an encoder's architecture (the random-init baseline), or ``None``
    (:func:`lyrebird.encoders.registry.random_init_twin`)."""
    from lyrebird.core.model_spec import parse_spec
    from lyrebird.encoders.registry import random_init_twin

    return random_init_twin(parse_spec(encoder_name, "encoder").expect("encoder").name)


def random_init_label(base: str) -> str:
    """Report label of the random-init twin of architecture ``base`` (``"kind:preset"``)."""
    return f"{base} (random init)"


def random_init_encoder(encoder_name: str) -> EncoderEmbedding | None:
    """Random-init baseline with the architecture and config of ``encoder_name`` (seeded like
    ``get_encoder("kind:preset")``), labelled ``"<kind:preset> (random init)"``; ``None`` when
    ``encoder_name`` is already a random-init name or has no known architecture."""
    from lyrebird.core.model_spec import parse_spec
    from lyrebird.encoders.registry import build_encoder

    base = random_init_name(encoder_name)
    if base is None or base == parse_spec(encoder_name, "encoder").name:
        return None
    trained = get_encoder(encoder_name, device="cpu")
    if not hasattr(trained, "cfg"):
        return None
    torch.manual_seed(0)
    enc = build_encoder(base.split(":", 1)[0], config_to_dict(trained.cfg)).eval()
    mode = getattr(trained, "embed_mode", None)
    if mode is not None and hasattr(enc, "set_embed_mode"):
        enc.set_embed_mode(mode)  # the twin embeds the way the trained encoder does
    return EncoderEmbedding(enc, base, label=random_init_label(base))
