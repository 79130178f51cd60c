"""What a library embeds with: a music–text model (MuLan) or, for audio-only use, an encoder.

A library stores the *fingerprint* of its model and refuses vectors from any other model.
:class:`ModelHandle` is the model as a library holds it — loaded on first use, with cached
prompt vectors — and computes zero-shot tags for both the write path (tags stored at add time)
and the read side (``Library.tag``).
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import numpy as np

from lyrebird.core.fingerprint import module_fingerprint
from lyrebird.core.model_spec import ModelSpec, parse_spec
from lyrebird.mulan import DEFAULT_TEMPLATE, mtt_top50

from .caches import TEXT_CACHE, embed_text_batched


@runtime_checkable
class LibraryModel(Protocol):
    """The embedding model of a library."""

    name: str
    SAMPLE_RATE: int  # Hz of the audio given to embed_windows
    DIM: int  # vector width

    def fingerprint(self) -> str:
        """Stable identity of the weights and config (hex)."""
        ...

    def embed_windows(self, audio: np.ndarray, valid: np.ndarray) -> np.ndarray:
        """``(B, L)`` mono float32 windows at ``SAMPLE_RATE`` Hz, of which the first
        ``valid[i]`` samples are real (the rest zero padding) → L2-normalised ``(B, DIM)``
        float32, one vector per window."""
        ...

    @property
    def has_text(self) -> bool:
        """Whether :meth:`embed_text` works (text→music search, zero-shot tags)."""
        ...

    def embed_text(self, texts: list[str]) -> np.ndarray:
        """``N`` strings → L2-normalised ``(N, DIM)`` float32."""
        ...

    # Optional: ``tag_segments(audio (B, L), valid (B,)) -> (B, T) | None``, the distilled tag
    # student's probabilities of the same windows (a library stores each track's mean);
    # ``tag_head``, the head that maps vectors to the same tags (the fallback).


if TYPE_CHECKING:
    import torch



def _unit(v: np.ndarray) -> np.ndarray:
    """Rows of ``v (N, D)`` L2-normalised, float32."""
    v = np.asarray(v, np.float32)
    return v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)


def state_fingerprint(module: torch.nn.Module, config: object) -> str:
    """Fingerprint of a module's weights (``module_fingerprint``) combined with a config."""
    blob = json.dumps([module_fingerprint(module), config], sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def __getattr__(name: str):
    # ``EncoderModel``: the older name of :class:`lyrebird.encoders.embedding.EncoderEmbedding`,
    # the one encoder-as-embedding wrapper, loaded on use (it needs torch; a query does not)
    if name == "EncoderModel":
        from lyrebird.encoders.embedding import EncoderEmbedding

        return EncoderEmbedding
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class MuLanModel:
    """Library model over a :class:`lyrebird.mulan.MuLan` (text and audio in one space).

    Given a loaded MuLan, it uses it. Given a ``spec`` (a shipped name or a checkpoint folder),
    it loads lazily: text queries load the text side alone (no audio encoder is built), and
    the first audio call loads the full model, reusing the text backbone already in memory.
    """

    def __init__(self, mulan=None, name: str | None = None, *, spec: str | None = None,
                 device: str | None = "cpu"):
        if mulan is None and spec is None:
            raise ValueError("MuLanModel needs a MuLan or a spec")
        self._full, self._text_only, self._spec, self._device = mulan, None, spec, device
        self.name = name or str(spec)
        if mulan is not None:
            self.DIM = int(mulan.cfg.dim)
        else:
            from lyrebird.core.checkpoint import read_config
            from lyrebird.mulan.model_files import resolve_checkpoint

            self.DIM = int(read_config(resolve_checkpoint(spec))["config"]["dim"])
        self._fp: str | None = None
        self._head: object = False  # False: not looked up yet
        self._student: object = False  # likewise
        self._query: object = False  # the NumPy query tower; False: not looked up yet

    @property
    def tag_head(self):
        """The MuLan's distilled tag head (:mod:`lyrebird.mulan.tag_head`), or ``None``; read
        from the checkpoint folder alone (no tower is loaded for it)."""
        if self._head is False:
            if self._full is not None:
                self._head = self._full.tag_head
            else:
                from lyrebird.mulan.model_files import resolve_checkpoint
                from lyrebird.mulan.tag_head import find_head

                self._head = find_head(resolve_checkpoint(self._spec))
        return self._head

    @property
    def tag_student(self):
        """The MuLan's distilled tag student (:mod:`lyrebird.mulan.tag_student`), or ``None``;
        read from the checkpoint folder alone (loads torch, not the towers)."""
        if self._student is False:
            if self._full is not None:
                self._student = self._full.tag_student
            else:
                from lyrebird.mulan.model_files import resolve_checkpoint
                from lyrebird.mulan.tag_student import find_student

                self._student = find_student(resolve_checkpoint(self._spec))
        return self._student

    def tag_segments(self, audio: np.ndarray, valid: np.ndarray) -> np.ndarray | None:
        """The student's tag probabilities ``(B, T)`` of segments ``(B, L)`` at
        :attr:`SAMPLE_RATE` with ``valid (B,)`` real samples each, or ``None`` without one."""
        student = self.tag_student
        if student is None:
            return None
        if self.SAMPLE_RATE != student.sample_rate:
            from lyrebird.encoders.audio import resample

            audio = [resample(a[: int(n)], self.SAMPLE_RATE, student.sample_rate)
                     for a, n in zip(audio, valid, strict=True)]
            valid = np.array([len(a) for a in audio])
        return student.segment_probs(audio, valid)

    @property
    def mulan(self):
        """The full model (audio and text towers), loaded on first use."""
        if self._full is None:
            from lyrebird.mulan import MuLan

            backbone = self._text_only.text.backbone if self._text_only is not None else None
            # the frozen, memory-mapped query backbone: a library embeds audio and answers
            # queries, it never trains the text tower (no transformers import, seconds saved)
            self._full = MuLan.load(self._spec, self._device, backbone=backbone,
                                    lean_text=True).eval()
            self._text_only = None
        return self._full

    def _text_side(self):
        if self._full is not None:
            return self._full
        if self._text_only is None:
            from lyrebird.mulan import MuLan

            self._text_only = MuLan.load(self._spec, self._device, audio=False,
                                         lean_text=True).eval()
        return self._text_only

    @property
    def SAMPLE_RATE(self) -> int:
        return int(self.mulan.audio.sample_rate)

    def _numpy_text(self):
        """The NumPy query tower (:mod:`lyrebird.mulan.query_tower`: no torch) while no torch
        model is loaded, for a CPU model given by spec; ``None`` when it does not apply."""
        if self._full is not None or self._text_only is not None:
            return None
        if self._query is False:
            self._query = None
            if self._spec is not None and self._device in (None, "cpu"):
                from lyrebird.mulan.model_files import resolve_checkpoint
                from lyrebird.mulan.query_tower import query_tower

                self._query = query_tower(resolve_checkpoint(self._spec))
        return self._query

    def fingerprint(self) -> str:
        """:meth:`MuLan.fingerprint`: the same whether or not the audio tower is loaded (and
        computed from the checkpoint files when the NumPy query tower applies)."""
        if self._fp is None:
            q = self._numpy_text()
            self._fp = q.fingerprint() if q is not None else self._text_side().fingerprint()
        return self._fp

    def legacy_fingerprint(self) -> str:
        """The fingerprint libraries stored before 0.2 (a hash of every weight, the frozen
        encoder's included); loads the full model. Used once to upgrade such a library."""
        m = self.mulan
        if self._spec is not None and not m.text.backbone.state_dict():
            from lyrebird.mulan import MuLan  # a frozen query backbone holds no weights:

            m = MuLan.load(self._spec, self._device)  # hash the ordinary one's
        return state_fingerprint(m, ["MuLan", self.DIM])

    def embed_windows(self, audio: np.ndarray, valid: np.ndarray) -> np.ndarray:
        from lyrebird.core.device import inference_autocast

        m = self.mulan
        with inference_autocast(m.device):  # bf16 where the CPU has it: 2× the encoder speed
            if audio.shape[1] > round(m.cfg.audio.window_s * m.audio.sample_rate):
                # longer than the model's window: window it as MuLan does for any recording
                v = m.embed_audio_batch([a[: int(n)] for a, n in zip(audio, valid, strict=True)],
                                        m.audio.sample_rate)
            else:
                v = m.embed_windows(audio, valid)
        return _unit(v.detach().float().cpu().numpy() if hasattr(v, "detach") else v)

    @property
    def has_text(self) -> bool:
        return True

    @property
    def default_tags(self) -> list[str]:
        """The tag vocabulary used when none is given: MTT top-50 (a wrapper forwards it)."""
        return list(mtt_top50())

    def embed_text(self, texts: list[str]) -> np.ndarray:
        # the NumPy tower spares a process the torch import; where torch is loaded already (a
        # server, a notebook) the torch path is faster per query (bf16 where the CPU has it)
        q = self._numpy_text() if "torch" not in sys.modules else None
        if q is not None:
            return q.embed_text(list(texts))
        v = self._text_side().embed_text(list(texts))
        return _unit(v.detach().cpu().numpy() if hasattr(v, "detach") else v)


def _mulan(spec: ModelSpec, device: str | None) -> LibraryModel:
    spec.check_options(where="library model")
    return MuLanModel(spec=spec.name, device=device, name=spec.written)


def _encoder(spec: ModelSpec, device: str | None) -> LibraryModel:
    from lyrebird.encoders.embedding import EncoderEmbedding

    return EncoderEmbedding.load(spec, device=device)


def _onnx(spec: ModelSpec, device: str | None) -> LibraryModel:
    from lyrebird.mulan.loaders import load

    return load(spec)


def _plugin(spec: ModelSpec, device: str | None) -> LibraryModel:
    import importlib

    spec.check_options(where="plug-in")
    mod, _, attr = spec.name.partition(":")
    try:
        if not mod or not attr:
            raise ValueError("no factory named")
        m = getattr(importlib.import_module(mod), attr)()
    except (ValueError, ImportError, AttributeError) as e:
        raise ValueError(f"model {spec.written!r}: expected 'py:<module>:<factory>' ({e})") from e
    if not isinstance(m, LibraryModel):
        raise ValueError(f"model {spec.written!r} does not implement the LibraryModel protocol")
    m.name = spec.written
    return m


LIBRARY_LOADERS: dict[str, Callable[[ModelSpec, str | None], LibraryModel]] = {
    "mulan": _mulan,
    "encoder": _encoder,
    "onnx": _onnx,
    "onnx-int8": _onnx,
    "py": _plugin,
}
"""The kinds a library embeds with → loader ``(spec, device) -> LibraryModel``: the kinds of
:data:`lyrebird.mulan.loaders.LOADERS` that make vectors, as a library holds them, plus ``py``
plug-ins."""


def load_model(spec: str | ModelSpec = "default", device: str | None = "cpu", *,
               runtime: str = "torch", fingerprint: str | None = None) -> LibraryModel:
    """The library model a spec names (grammar: :mod:`lyrebird.core.model_spec`;
    docs/architecture.md, "Naming a model"; a bare name is a MuLan):

    * ``default``, ``mulan:NAME`` or a MuLan checkpoint folder → :class:`MuLanModel`;
    * ``encoder:NAME`` (e.g. ``encoder:default``, ``encoder:myna:tiny-hybrid?embed_mode=square``)
      or an encoder checkpoint folder → the audio-only
      :class:`~lyrebird.encoders.embedding.EncoderEmbedding`;
    * ``py:<module>:<factory>`` → a plug-in object implementing :class:`LibraryModel`;
    * ``onnx:DIR`` / ``onnx-int8:DIR`` → MuLan's ONNX export on onnxruntime.

    The model's ``name`` is the spec as written (a library records it and loads it again).
    ``runtime`` ``"onnx"`` / ``"onnx-int8"`` runs a MuLan spec's towers on onnxruntime from
    its export, made once and cached (:mod:`lyrebird.mulan.runtimes`; ``fingerprint``, e.g. a
    library's, finds the cached export without loading the model; onnxruntime uses as many
    threads as PyTorch). Raises ``ValueError`` naming the spec for a kind a library cannot
    embed with or a runtime on a spec that is not a MuLan, ``ImportError`` naming the pip
    extra when onnxruntime is missing.
    """
    s = parse_spec(spec)
    if runtime != "torch":
        from lyrebird.mulan.runtimes import check_runtime, onnx_model

        check_runtime(runtime)
        if s.kind != "mulan":
            raise ValueError(f"--runtime {runtime} runs a MuLan (a shipped name or checkpoint "
                             f"folder) on onnxruntime; model {s.written!r} is not one"
                             + (" (it already names its runtime)" if s.kind.startswith("onnx")
                                else ""))
        s.check_options(where=f"on runtime {runtime}")
        return onnx_model(s.written, runtime, fingerprint)
    if s.kind not in LIBRARY_LOADERS:
        raise ValueError(f"model {s.written!r} is of kind {s.kind!r}, which a library cannot "
                         f"embed with; expected one of {sorted(LIBRARY_LOADERS)} "
                         "(docs/architecture.md, 'Naming a model')")
    return LIBRARY_LOADERS[s.kind](s, device)


def text_key(model: LibraryModel) -> str:
    """The identity of a model's text vectors, the key of :data:`TEXT_CACHE`: its
    ``text_fingerprint()`` where it has one (an int8 text tower over fp32 audio shares the
    fingerprint, not the text vectors), else its fingerprint."""
    own = getattr(model, "text_fingerprint", None)
    return str(own()) if callable(own) else model.fingerprint()


def query_only(model: LibraryModel) -> bool:
    """Whether ``model`` may search a library but not write to it (``model.query_only``; the
    int8 text runtime: see :mod:`lyrebird.mulan.runtimes`)."""
    return bool(getattr(model, "query_only", False))


def default_tag_vocabulary(model=None) -> list[str]:
    """The model's own tag vocabulary if it has one, else the MTT top-50 shipped with MuLan."""
    vocab = getattr(model, "default_tags", None)
    if vocab is None and isinstance(model, MuLanModel):
        vocab = mtt_top50()
    if vocab is None:
        raise ValueError("this model has no default tag vocabulary; pass tags=[...]")
    return list(vocab)


class ModelHandle:
    """A library's model, given now or loaded by ``load()`` on first use; text vectors (queries
    and tag prompts) come from the process-wide :data:`TEXT_CACHE` when embedded before."""

    def __init__(self, model: LibraryModel | None = None,
                 load: Callable[[], LibraryModel] | None = None):
        if model is None and load is None:
            raise ValueError("ModelHandle needs a model or a loader")
        self._model, self._load = model, load
        self._student_key: str | bool | None = False  # False: not computed yet

    @property
    def model(self) -> LibraryModel:
        if self._model is None:
            self._model = self._load()
        return self._model

    @property
    def loaded(self) -> bool:
        return self._model is not None

    @property
    def tag_head(self):
        """The model's distilled tag head (:mod:`lyrebird.mulan.tag_head`), or ``None`` (an
        audio-only model, a MuLan without one, or a wrapper that does not forward it)."""
        return getattr(self.model, "tag_head", None)

    @property
    def tag_student_key(self) -> str | None:
        """The fingerprint of the model's tag student (stored with the tags it computes), or
        ``None`` without one; loads the student."""
        if self._student_key is False:
            student = getattr(self.model, "tag_student", None)
            self._student_key = student.fingerprint() if student is not None else None
        return self._student_key

    def text_vectors(self, texts: list[str]) -> np.ndarray:
        """``N`` strings → ``(N, DIM)`` normalised vectors, each text embedded once."""
        fp = text_key(self.model)
        found = {t: TEXT_CACHE.get((fp, t)) for t in texts}
        missing = list(dict.fromkeys(t for t, v in found.items() if v is None))
        if missing:
            for t, v in zip(missing, embed_text_batched(self.model, missing), strict=True):
                v = np.asarray(v, np.float32)
                v.setflags(write=False)
                found[t] = v
                TEXT_CACHE.put((fp, t), v)
        return np.stack([found[t] for t in texts])

    def tag_scores(self, vec: np.ndarray, tags: list[str] | None = None,
                   template: str = DEFAULT_TEMPLATE) -> dict[str, float]:
        """Zero-shot tag scores (cosine similarity to ``template.format(tag)``), best first;
        ``tags`` defaults to :func:`default_tag_vocabulary`."""
        tags = list(tags) if tags else default_tag_vocabulary(self.model)
        s = self.text_vectors([template.format(x) for x in tags]) @ vec
        return {tags[i]: float(s[i]) for i in np.argsort(-s)}

    def distilled_tags(self, vectors: np.ndarray | None, tags: np.ndarray | None = None
                       ) -> dict[str, float] | None:
        """Distilled tag probabilities of audio, best first, or ``None`` without a tag head:
        ``tags`` ``(T,)``, the tag student's (:attr:`lyrebird.index.ingest.Embedded.tags`),
        when given, else the head's of the segment vectors ``(S, DIM)`` (averaged). Repeated
        names (a tag of both teachers) keep their higher probability."""
        head = self.tag_head
        if head is None:
            return None
        if tags is not None and len(tags) == len(head.names):
            p = np.asarray(tags, np.float32)
        elif vectors is not None:
            p = head.probs(np.atleast_2d(np.asarray(vectors, np.float32))).mean(0)
        else:
            return None
        out: dict[str, float] = {}
        for name, v in zip(head.names, p, strict=True):
            out[name] = max(out.get(name, 0.0), float(v))
        return dict(sorted(out.items(), key=lambda kv: -kv[1]))

    def stored_tags(self, vector: np.ndarray | None, seg_vectors: np.ndarray | None = None,
                    tags: np.ndarray | None = None, top: int = 5) -> dict[str, float]:
        """The ``top`` tags stored with a track (``Hit.tags``, the API's ``tags``): with a tag
        head, the distilled probabilities (:meth:`distilled_tags`); else the zero-shot
        scores of the vector ``(DIM,)`` (:meth:`top_tags`)."""
        d = self.distilled_tags(seg_vectors, tags) if self.tag_head is not None else None
        if d is not None:
            return dict(list(d.items())[:top])
        return self.top_tags(vector, top) if vector is not None else {}

    def top_tags(self, vec: np.ndarray, top: int = 5) -> dict[str, float]:
        """The ``top`` default-vocabulary zero-shot tags (cosine to the prompts); ``{}`` for
        an audio-only model or one without a vocabulary."""
        if not self.model.has_text:
            return {}
        try:
            scores = self.tag_scores(vec)
        except ValueError:  # no vocabulary for this model
            return {}
        return dict(list(scores.items())[:top])
