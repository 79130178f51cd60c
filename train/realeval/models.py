"""The models and baselines the real-music evaluation compares, named by model specs.

A spec (the one grammar, :mod:`lyrebird.core.model_spec`; docs/architecture.md, "Naming a
model") names what to embed with (:func:`parse_model`):

- any library model spec (:func:`lyrebird.index.model.load_model`): a MuLan (``default``, a
  folder), ``py:<module>:<factory>`` plug-ins, ONNX exports: the model under test, or a
  retrained random-init twin passed as a baseline;
- a MuLan that carries a tag head is evaluated fused, as a library serves it
  (:mod:`lyrebird.train.realeval.fused`); options ``alpha`` and ``beta`` set the fusion weights
  (``default?alpha=0.6&beta=0.4``; older spelling ``fused:0.6,0.4:default``) and
  ``head=none`` leaves the head out (``contrastive:default``); ``tags=head`` takes the
  tracks' tags from the head even when the MuLan carries a tag student (the comparison);
  ``match`` sets the per-query fusion's ``match_full`` (``default?match=0.3``; 0: one alpha
  for every query); ``score`` how tags score a text query (``default?score=log``, ``z``:
  :func:`lyrebird.mulan.tag_space.tag_scores`);
- ``audio=random-init`` (``default?audio=random-init``; older spelling ``random-tower[:SPEC]``):
  the MuLan with its frozen audio encoder swapped for the encoder's random-init twin (same
  family and preset, seed 0), keeping the trained head and text tower. This is *not* the
  same-recipe baseline (that one retrains the head on the twin); it is reported as
  "random-init audio tower (default head)";
- ``baseline:logmel`` (or ``logmel``): mean and standard deviation of the Myna log-mel bands
  over time (audio only);
- ``encoder:<encoder spec>`` (``encoder:default``, ``encoder:myna:small-hybrid``, a folder,
  ``?embed_mode=square``): a self-supervised encoder's own pooled embedding (audio only),
  through the one wrapper a library uses — the real-music probe of an encoder on the
  similar-track and excerpt tasks, without any MuLan head.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import torch

from lyrebird.core.model_spec import ModelSpec as Spec
from lyrebird.core.model_spec import SpecError, parse_spec
from lyrebird.index.model import LibraryModel, MuLanModel, load_model
from lyrebird.mulan.tag_space import TAG_SCORES


@dataclass
class EvalModel:
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


def twin_name(mulan_spec: str = "default") -> str:
    """The random-init twin of a MuLan checkpoint's audio encoder: ``<family>:<preset>``."""
    from lyrebird.core.checkpoint import read_config
    from lyrebird.encoders.registry import random_init_twin
    from lyrebird.mulan.model_files import resolve_checkpoint

    enc = read_config(resolve_checkpoint(mulan_spec))["config"]["audio"]["encoder"]
    twin = random_init_twin(enc)
    if twin is None:
        raise ValueError(f"encoder {enc!r} records no preset; cannot build its random-init twin")
    return twin


def random_tower(mulan_spec: str = "default", device: str = "cpu") -> EvalModel:
    """The MuLan with a random-init twin of its audio encoder and its own trained head."""
    from lyrebird.encoders import get_encoder
    from lyrebird.mulan import MuLan

    twin = twin_name(mulan_spec)
    enc = get_encoder(twin, device=device)
    m = MuLan.load(mulan_spec, device, encoder=enc, check_fingerprint=False)
    key = hashlib.sha256(f"{m.fingerprint()}|random-init|{twin}".encode()).hexdigest()[:16]
    return EvalModel("random-init audio tower (default head)", MuLanModel(m, "random-tower"),
                     key, f"audio encoder {twin} at random init (seed 0), head and text tower "
                          f"of {mulan_spec!r} unchanged; not retrained")


EVAL_OPTIONS = ("head", "alpha", "beta", "audio", "tags", "match", "score")
"""The options the evaluation reads on a MuLan spec (the others go to the model's loader)."""


def _weights(s: Spec) -> tuple[float, float] | None:
    if s.option("alpha") is None and s.option("beta") is None:
        return None
    try:
        w = (float(s.option("alpha", "")), float(s.option("beta", "")))
    except ValueError:
        w = (-1.0, -1.0)
    if not all(0.0 <= x <= 1.0 for x in w):
        raise SpecError(f"model spec {s.written!r}: alpha and beta are two weights in [0, 1], "
                        f"got alpha={s.option('alpha')!r}, beta={s.option('beta')!r}")
    return w


def parse_model(spec: str | Spec, device: str = "cpu", name: str | None = None) -> EvalModel:
    """A model spec (see the module docstring) → :class:`EvalModel`."""
    s = parse_spec(spec)
    base = s.name if s.kind == "mulan" else f"{s.kind}:{s.name}"
    if s.kind == "baseline":
        s.check_options(where="baseline")
        if s.name != "logmel":
            raise SpecError(f"model spec {s.written!r}: unknown baseline; expected baseline:logmel")
        m = LogMelStats()
        return EvalModel(name or "log-mel statistics", m, m.fingerprint(),
                         "mean+std of Myna log-mel bands, standardised on the split")
    if s.kind == "encoder":
        e = load_model(s, device=device)
        target = str(s)[len("encoder:"):]
        return EvalModel(name or f"encoder {target}", e, e.fingerprint(),
                         f"pooled embedding of encoder {target!r}, standardised on the split")
    audio, head_opt = s.option("audio"), s.option("head")
    if audio is not None:
        if audio != "random-init" or set(s.opts) != {"audio"}:
            raise SpecError(f"model spec {s.written!r}: audio takes 'random-init', alone")
        rest = s.without("audio")
        return random_tower(rest.name if not rest.options else str(rest), device)
    if head_opt not in (None, "none"):
        raise SpecError(f"model spec {s.written!r}: head takes 'none' (the contrastive space "
                        "alone)")
    if s.option("tags") not in (None, "head", "student"):
        raise SpecError(f"model spec {s.written!r}: tags takes 'student' (the default when the "
                        "model has one) or 'head'")
    match = s.option("match")
    try:
        match_full = None if match is None else float(match)
    except ValueError:
        match_full = -1.0
    if match_full is not None and not 0.0 <= match_full <= 1.0:
        raise SpecError(f"model spec {s.written!r}: match takes a number in [0, 1] (the share of "
                        "a query's tag weight its best concept needs for the full tag share; "
                        "0: off)")
    if s.option("score") not in (None, *TAG_SCORES):
        raise SpecError(f"model spec {s.written!r}: score takes one of {', '.join(TAG_SCORES)} "
                        "(how a track's tags score a text query)")
    weights, fused = _weights(s), head_opt is None
    if weights is not None and not fused:
        raise SpecError(f"model spec {s.written!r}: alpha/beta fuse with the head; head=none "
                        "leaves it out")
    m = load_model(s.without(*EVAL_OPTIONS), device=device)
    head = getattr(m, "tag_head", None) if fused else None
    if head is None:
        if weights is not None:
            raise ValueError(f"{base!r} carries no tag head to fuse with")
        label = name or (base if fused else f"{base} (contrastive only)")
        return EvalModel(label, m, str(m.fingerprint()),
                         "contrastive space only" if not fused else "")
    from .fused import FusedEval

    alpha, beta = weights or (head.cfg.alpha, head.cfg.beta)
    label = name or (base if weights is None else f"{base} fused {alpha:g}/{beta:g}")
    if s.option("tags") == "head":
        label = name or f"{label} (head tags)"
    if match_full is not None:
        label = name or f"{label} match {match_full:g}"
    if s.option("score") is not None:
        label = name or f"{label} score {s.option('score')}"
    f = FusedEval(m, head, alpha, beta, student=s.option("tags") != "head",
                  match_full=match_full, tag_score=s.option("score"))
    source = "tag student" if f.tag_fingerprint() is not None else "distilled tag head"
    return EvalModel(label, f, str(m.fingerprint()),
                     f"contrastive space fused with the {source}'s tags (alpha {alpha:g} "
                     f"text, beta {beta:g} similarity)")


ModelSpec = EvalModel
"""The older name of :class:`EvalModel` (not :class:`lyrebird.core.model_spec.ModelSpec`, the
parsed spec)."""

__all__ = ["AudioOnly", "EvalModel", "LogMelStats", "ModelSpec", "parse_model", "random_tower",
           "twin_name"]
