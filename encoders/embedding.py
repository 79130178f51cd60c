"""An encoder as an embedding model: the one wrapper, with the one fingerprint recipe.

:class:`EncoderEmbedding` is what a library (``--model encoder:NAME``), the real-music
evaluation (``lyrebird eval real --model encoder:NAME``) and the probes (``lyrebird probe
--encoder NAME``) embed with when the model is an audio encoder alone:

* ``embed_windows(audio, valid)``: one L2-normalised vector per window (the encoder's pooled
  ``embed`` of the window's real samples): the library model protocol
  (:class:`lyrebird.index.model.LibraryModel`);
* ``__call__(wav)``: ``{"embed": (DIM,), "layer0": ..., "layerL": ...}``, the pooled embedding
  and every layer's time-averaged state, for layer-wise probing;
* ``fingerprint()``: :func:`encoder_fingerprint`, the same for every use of the same spec.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os

import numpy as np
import torch
import torch.nn.functional as F

from lyrebird.core.fingerprint import module_fingerprint
from lyrebird.core.model_spec import ModelSpec, parse_spec

from .base import AudioEncoder


def _config(encoder: AudioEncoder) -> object:
    cfg = getattr(encoder, "cfg", None)
    if dataclasses.is_dataclass(cfg) and not isinstance(cfg, type):
        from lyrebird.core.configs import config_to_dict

        return config_to_dict(cfg)
    return repr(cfg)


def encoder_fingerprint(encoder: AudioEncoder) -> str:
    """Identity of what an encoder outputs (16 hex characters): its class, config and weights,
    and the settings that change its embedding without touching either: Myna's
    ``embed_mode`` (``set_embed_mode``), the width ``DIM`` and the sample rate."""
    blob = json.dumps(["encoder-embedding", 2, type(encoder).__name__, _config(encoder),
                       module_fingerprint(encoder), getattr(encoder, "embed_mode", None),
                       int(encoder.DIM), int(encoder.SAMPLE_RATE)], sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


class EncoderEmbedding:
    """Audio-only embedding model over any Lyrebird encoder (see the module docstring).

    ``spec``: the spec it was loaded from (a library records it as its model's ``name`` and
    loads it again from it); ``label``: the name shown in reports (default: ``spec``).
    """

    def __init__(self, encoder: AudioEncoder, spec: str, label: str | None = None):
        self.encoder, self.spec = encoder.eval(), str(spec)
        self.name = label or self.spec
        self._fp: str | None = None

    @classmethod
    def load(cls, spec: str | os.PathLike | ModelSpec, device: str | None = "cpu",
             label: str | None = None) -> EncoderEmbedding:
        """The encoder an ``encoder`` spec names (its ``encoder:`` kind may be left out)."""
        from .registry import load

        s = parse_spec(spec, "encoder").expect("encoder")
        return cls(load(s, device=device), s.written, label)

    @property
    def SAMPLE_RATE(self) -> int:
        return int(self.encoder.SAMPLE_RATE)

    @property
    def DIM(self) -> int:
        return int(self.encoder.DIM)

    @property
    def sample_rate(self) -> int:
        """Hz of the audio given to :meth:`__call__` (the probe extractor protocol)."""
        return self.SAMPLE_RATE

    def fingerprint(self) -> str:
        """:func:`encoder_fingerprint` (computed once: the weights are frozen)."""
        if self._fp is None:
            self._fp = encoder_fingerprint(self.encoder)
        return self._fp

    def legacy_fingerprint(self) -> str:
        """The fingerprint libraries built before the one recipe stored (class, config repr,
        weights, width; no embedding mode, which such libraries could not set), so opening
        one upgrades it in place instead of asking for a re-embed."""
        blob = json.dumps([module_fingerprint(self.encoder),
                           [type(self.encoder).__name__, repr(getattr(self.encoder, "cfg", None)),
                            self.DIM]], sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    @torch.no_grad()
    def embed_windows(self, audio: np.ndarray, valid: np.ndarray) -> np.ndarray:
        """``(B, L)`` mono float32 windows at ``SAMPLE_RATE`` Hz with ``valid[i]`` real samples
        → L2-normalised ``(B, DIM)`` float32: the encoder's ``embed`` of each window."""
        vecs = [self.encoder.embed(np.asarray(a[: max(int(n), 1)], np.float32),
                                   self.SAMPLE_RATE).float().cpu()
                for a, n in zip(audio, valid, strict=True)]
        if not vecs:
            return np.zeros((0, self.DIM), np.float32)
        return F.normalize(torch.stack(vecs), dim=1).numpy().astype(np.float32)

    @torch.no_grad()
    def __call__(self, wav: np.ndarray) -> dict[str, np.ndarray]:
        """``(T,)`` float32 mono at ``sample_rate`` → ``{"embed": (DIM,), "layer0": ...}``
        (``layer0``: the token input; not normalised)."""
        emb, layers = self.encoder.embed_layers(wav, self.SAMPLE_RATE)
        out = {"embed": emb.float().cpu().numpy().astype(np.float32)}
        out.update({f"layer{i}": h.float().cpu().numpy().astype(np.float32)
                    for i, h in enumerate(layers)})
        return out

    @property
    def has_text(self) -> bool:
        return False

    def embed_text(self, texts: list[str]) -> np.ndarray:
        raise ValueError(f"model {self.name!r} is audio-only: it has no text side for text "
                         "search or zero-shot tags; those need a music–text model "
                         "(--model default)")


__all__ = ["EncoderEmbedding", "encoder_fingerprint"]
