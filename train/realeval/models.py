"""The models and baselines the real-music evaluation compares, as pluggable "model specs".

A spec string names what to embed with (:func:`parse_model`):

- a MuLan checkpoint (``default``, a folder) or any :func:`lyrebird.index.model.load_model`
  spec (``py:<module>:<factory>`` plug-ins included): the model under test, or a retrained
  random-init twin passed as a baseline;
- ``random-tower`` / ``random-tower:<mulan spec>``: the MuLan with its frozen audio encoder
  swapped for the encoder's random-init twin (same family and preset, seed 0), keeping the
  trained head and text tower. This is *not* the same-recipe baseline (that one retrains the
  head on the twin); it is reported as "random-init audio tower (default head)";
- ``logmel``: mean and standard deviation of the Myna log-mel bands over time (audio only);
- a MuLan that carries a tag head is evaluated fused, as a library serves it
  (:mod:`lyrebird.train.realeval.fused`); ``fused:ALPHA,BETA:<spec>`` sets the fusion weights
  and ``contrastive:<spec>`` leaves the head out;
- ``encoder:<encoder spec>`` (``encoder:default``, ``encoder:myna:small-hybrid``, a folder):
  a self-supervised encoder's own pooled embedding (audio only) — the real-music probe of an
  encoder on the similar-track and excerpt tasks, without any MuLan head.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import torch

from lyrebird.index.model import LibraryModel, MuLanModel, load_model


@dataclass
class ModelSpec:
    """A model in the comparison: its table label, the model, a cache key and a note.

    ``audio_tasks``: whether it enters the similar-track and excerpt tasks (a text-only peer
    such as ``teacher-keyword`` does not).
    """

    name: str
    model: LibraryModel
    key: str
    note: str = ""
    audio_tasks: bool = True

    @property
    def has_text(self) -> bool:
        return bool(getattr(self.model, "has_text", False))


class AudioOnly:
    """Base of the audio-only models: no text side (``embed_text`` says so)."""

    label = "this model"

    @property
    def has_text(self) -> bool:
        return False

    def embed_text(self, texts: list[str]) -> np.ndarray:
        raise ValueError(f"{self.label} has no text side")


class LogMelStats(AudioOnly):
    """Audio-only baseline: per window, mean and std over time of the log-mel bands."""

    label = "the log-mel statistics baseline"

    SAMPLE_RATE = 16000
    name = "logmel"

    def __init__(self, preset: str = "myna"):
        from lyrebird.encoders import MelFrontend

        self.frontend = MelFrontend(preset).eval()
        self.SAMPLE_RATE = int(self.frontend.cfg.sample_rate)
        self.DIM = 2 * int(self.frontend.cfg.n_mels)
        self._preset = preset

    def fingerprint(self) -> str:
        return f"logmel-{self._preset}-meanstd-v1"

    def embed_windows(self, audio: np.ndarray, valid: np.ndarray) -> np.ndarray:
        out = np.zeros((len(audio), self.DIM), np.float32)
        with torch.no_grad():
            for i, (a, n) in enumerate(zip(audio, valid, strict=True)):
                a = np.asarray(a[: max(int(n), self.frontend.cfg.n_fft)], np.float32)
                m = self.frontend(torch.from_numpy(a))[0]  # (n_mels, frames)
                out[i] = torch.cat([m.mean(dim=1), m.std(dim=1)]).numpy()
        return out


class EncoderEmbedding(AudioOnly):
    """Audio-only model: an encoder's pooled embedding of each window (its ``embed``)."""

    name = "encoder"

    def __init__(self, spec: str, device: str = "cpu"):
        from lyrebird.encoders import get_encoder

        self.encoder = get_encoder(spec, device=device).eval()
        self.SAMPLE_RATE = int(self.encoder.SAMPLE_RATE)
        self.DIM = int(self.encoder.DIM)
        self._spec = spec
        self.label = f"encoder {spec!r}"

    def fingerprint(self) -> str:
        from lyrebird.core.fingerprint import module_fingerprint

        return f"encoder-{module_fingerprint(self.encoder)}"

    def embed_windows(self, audio: np.ndarray, valid: np.ndarray) -> np.ndarray:
        """``(N, DIM)`` embeddings of ``N`` windows ``(N, L)`` at ``SAMPLE_RATE`` Hz (``valid``:
        real samples per window)."""
        with torch.no_grad():
            return np.stack([self.encoder.embed(np.asarray(a[: max(int(n), 1)], np.float32),
                                                self.SAMPLE_RATE).float().cpu().numpy()
                             for a, n in zip(audio, valid, strict=True)])


def twin_name(mulan_spec: str = "default") -> str:
    """The random-init twin of a MuLan checkpoint's audio encoder: ``<kind>:<preset>``."""
    from lyrebird.core.checkpoint import read_config
    from lyrebird.encoders.registry import shipped_checkpoints
    from lyrebird.mulan.model import resolve_checkpoint

    enc = read_config(resolve_checkpoint(mulan_spec))["config"]["audio"]["encoder"]
    shipped = shipped_checkpoints()
    if ":" in str(enc) and enc not in shipped:
        return str(enc)  # already a random-init preset name
    meta = read_config(shipped.get(enc, enc))
    if not meta.get("preset"):
        raise ValueError(f"encoder {enc!r} records no preset; cannot build its random-init twin")
    return f"{meta['kind']}:{meta['preset']}"


def random_tower(mulan_spec: str = "default", device: str = "cpu") -> ModelSpec:
    """The MuLan with a random-init twin of its audio encoder and its own trained head."""
    from lyrebird.encoders import get_encoder
    from lyrebird.mulan import MuLan

    twin = twin_name(mulan_spec)
    enc = get_encoder(twin, device=device)
    m = MuLan.load(mulan_spec, device, encoder=enc, check_fingerprint=False)
    key = hashlib.sha256(f"{m.fingerprint()}|random-init|{twin}".encode()).hexdigest()[:16]
    return ModelSpec("random-init audio tower (default head)", MuLanModel(m, "random-tower"),
                     key, f"audio encoder {twin} at random init (seed 0), head and text tower "
                          f"of {mulan_spec!r} unchanged; not retrained")


def parse_model(spec: str, device: str = "cpu", name: str | None = None) -> ModelSpec:
    """A spec string (see the module docstring) → :class:`ModelSpec`."""
    if spec == "logmel":
        m = LogMelStats()
        return ModelSpec(name or "log-mel statistics", m, m.fingerprint(),
                         "mean+std of Myna log-mel bands, standardised on the split")
    if spec.startswith("encoder:"):
        e = EncoderEmbedding(spec.split(":", 1)[1], device)
        return ModelSpec(name or f"encoder {e._spec}", e, e.fingerprint(),
                         f"pooled embedding of encoder {e._spec!r}, standardised on the split")
    if spec == "random-tower" or spec.startswith("random-tower:"):
        return random_tower(spec.split(":", 1)[1] if ":" in spec else "default", device)
    weights, fused = None, True
    if spec.startswith("contrastive:"):
        spec, fused = spec.split(":", 1)[1], False
    elif spec.startswith("fused:"):
        _, w, spec = spec.split(":", 2)
        try:
            weights = tuple(float(x) for x in w.split(","))
        except ValueError:
            weights = ()
        if len(weights) != 2 or not all(0.0 <= x <= 1.0 for x in weights):
            raise ValueError(f"fused:ALPHA,BETA:SPEC expects two weights in [0, 1], got {w!r}")
    m = load_model(spec, device=device)
    head = getattr(m, "tag_head", None) if fused else None
    if head is None:
        if weights is not None:
            raise ValueError(f"{spec!r} carries no tag head to fuse with")
        label = name or (spec if fused else f"{spec} (contrastive only)")
        return ModelSpec(label, m, str(m.fingerprint()),
                         "contrastive space only" if not fused else "")
    from .fused import FusedEval

    alpha, beta = weights or (head.cfg.alpha, head.cfg.beta)
    label = name or (spec if weights is None else f"{spec} fused {alpha:g}/{beta:g}")
    return ModelSpec(label, FusedEval(m, head, alpha, beta), str(m.fingerprint()),
                     f"contrastive space fused with the distilled tag head (alpha {alpha:g} "
                     f"text, beta {beta:g} similarity)")


__all__ = ["AudioOnly", "EncoderEmbedding", "LogMelStats", "ModelSpec", "parse_model", "random_tower", "twin_name"]
