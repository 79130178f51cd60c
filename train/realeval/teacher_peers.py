"""The musicnn tag peers of the real-music evaluation (issue #25): what a musicnn-based library
tool does with the open taggers, built from the teachers that ship in :mod:`..teachers`.

- ``teacher-keyword`` (text tasks): each track is the MTT and MSD musicnn teachers' tag
  probabilities averaged over the track's ≈3 s windows (``(100,)``: 50 + 50 tags, in the
  teachers' order). A query is matched to the 100 tag names through the text tower of the
  model under test: ``w = softmax(cos(query, tag name) / 0.05)`` over the 100 names, and a
  track scores ``w · p``, the weighted sum of its tag probabilities.
- ``teacher-vector`` (similar tracks, excerpts): the same probabilities as logits,
  ``logit(p)`` with ``p`` clipped to ``[1e-4, 1 - 1e-4]``, centred by the mean track logit of
  the split; similarity is the cosine of these vectors.

Both read the same embeddings (one cache key): a track is run through each teacher once, in
non-overlapping windows (musicnn's own ``top_tags`` windows); a 10 s segment is the mean of the
windows whose centre lies in it. Labelling runs on one torch thread (see
:class:`lyrebird.train.teachers.annotate.TeachConfig`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from lyrebird.encoders.chunking import chunk_starts
from lyrebird.index.pipeline import torch_threads
from lyrebird.mulan.tag_space import TEMPERATURE, logits, softmax
from lyrebird.train.realeval.embed import Vectors
from lyrebird.train.realeval.models import AudioOnly, ModelSpec
from lyrebird.train.teachers import MUSICNN_PAIR

TEACHERS: tuple[str, ...] = MUSICNN_PAIR
"""The teachers of both peers, in vector order."""
EPS = 1e-4
"""Probabilities are clipped to ``[EPS, 1 - EPS]`` before the logit."""


class TeacherTags(AudioOnly):
    """Audio → the teachers' tag probabilities ``(DIM,)``, teachers concatenated in order.

    ``taggers``: ``{name: tagger}`` with ``tags``, ``sample_rate`` and ``predict_windows(wav,
    sr) -> (n_windows, n_tags)`` (default: the shipped :data:`TEACHERS`, loaded on first use).
    """

    label = "the teacher tag peer"
    name = "teacher-tags"

    def __init__(self, taggers: Mapping[str, Any] | None = None,
                 names: Sequence[str] = TEACHERS):
        if taggers is None:
            from lyrebird.train.teachers import load_teacher

            taggers = {n: load_teacher(n) for n in names}
        self.taggers = dict(taggers)
        rates = {int(t.sample_rate) for t in self.taggers.values()}
        if len(rates) != 1:
            raise ValueError(f"teachers at different sample rates {sorted(rates)}")
        self.SAMPLE_RATE = rates.pop()
        self.tags: list[str] = [str(t).lower() for tg in self.taggers.values() for t in tg.tags]
        self.DIM = len(self.tags)

    def fingerprint(self) -> str:
        return "teacher-tags-" + "+".join(self.taggers) + "-v1"

    def window_probs(self, wav: np.ndarray) -> np.ndarray:
        """``(n_windows, DIM)`` float32 probabilities of a ``(T,)`` waveform at
        ``SAMPLE_RATE`` Hz, in the teachers' non-overlapping ≈3 s windows (teachers that
        disagree by a window on the count are cut to the shorter)."""
        with torch_threads(1):  # the teachers' fastest setting
            per = [np.asarray(t.predict_windows(wav, self.SAMPLE_RATE), np.float32)
                   for t in self.taggers.values()]
        n = min(len(p) for p in per)
        return np.concatenate([p[:n] for p in per], axis=1)

    def embed_windows(self, audio: np.ndarray, valid: np.ndarray) -> np.ndarray:
        """``(B, DIM)``: each window's mean window probabilities (``audio`` ``(B, L)`` at
        ``SAMPLE_RATE`` Hz, ``valid[i]`` real samples)."""
        return np.stack([self.window_probs(np.asarray(a[: max(int(n), 1)], np.float32)
                                           ).mean(axis=0)
                         for a, n in zip(audio, valid, strict=True)])

    def embed_track(self, wav: np.ndarray, segment_s: float, hop_s: float
                    ) -> tuple[np.ndarray, np.ndarray]:
        """``(segments (S, DIM), track (DIM,))`` of a ``(T,)`` waveform at ``SAMPLE_RATE``:
        the track is the mean of all its windows; segment ``j`` (the same ``segment_s`` /
        ``hop_s`` cut as the library's, ``last="shift"``) the mean of the windows whose
        centre lies in it (else the window nearest its centre)."""
        sr = self.SAMPLE_RATE
        probs = self.window_probs(wav)
        win_s = len(wav) / sr / max(len(probs), 1)  # fallback spacing for short input
        tagger = next(iter(self.taggers.values()))
        if hasattr(tagger, "window_frames") and hasattr(tagger, "frontend"):
            win_s = tagger.window_frames * tagger.frontend.cfg.hop_length / sr
        centres = (np.arange(len(probs)) + 0.5) * win_s
        clip = round(segment_s * sr)
        starts = chunk_starts(len(wav), clip, round(hop_s * sr), "shift")
        segs = []
        for s in starts:
            a, b = s / sr, min(s + clip, len(wav)) / sr
            inside = (centres >= a) & (centres < b)
            if not inside.any():
                inside = np.arange(len(probs)) == int(np.argmin(np.abs(centres - (a + b) / 2)))
            segs.append(probs[inside].mean(axis=0))
        return np.stack(segs).astype(np.float32), probs.mean(axis=0).astype(np.float32)


class TeacherVector(TeacherTags):
    """``teacher-vector``: cosine between the tracks' centred tag logits (audio tasks)."""

    label = "the teacher-vector peer"

    def prepare_vectors(self, v: Vectors) -> Vectors:
        """Probabilities → logits, centred by the mean track logit of the split."""
        mu = logits(v.track, EPS).mean(axis=0)
        return Vectors(logits(v.seg, EPS) - mu, v.seg_track, logits(v.track, EPS) - mu,
                       logits(v.query, EPS) - mu)


class TeacherKeyword(TeacherTags):
    """``teacher-keyword``: a query scores ``softmax(cos(query, tag names) / T) · p``.

    ``text_model``: any model with ``embed_text(list[str]) -> (N, D)`` (the model under test).
    """

    label = "the teacher-keyword peer"

    def __init__(self, text_model: Any, taggers: Mapping[str, Any] | None = None,
                 names: Sequence[str] = TEACHERS, temperature: float = TEMPERATURE):
        super().__init__(taggers, names)
        if not getattr(text_model, "has_text", False):
            raise ValueError("teacher-keyword needs a text tower: a model under test with a "
                             "text side, or 'teacher-keyword:<mulan spec>'")
        self.text_model, self.temperature = text_model, float(temperature)
        self._names: np.ndarray | None = None

    @property
    def has_text(self) -> bool:
        return True

    def _unit(self, texts: list[str]) -> np.ndarray:
        t = np.asarray(self.text_model.embed_text(texts), np.float64)
        return t / np.maximum(np.linalg.norm(t, axis=1, keepdims=True), 1e-12)

    def keyword_weights(self, texts: Sequence[str]) -> np.ndarray:
        """``(Q, DIM)`` softmax weights of each query over the tag names."""
        if self._names is None:
            self._names = self._unit(self.tags)
        return softmax(self._unit(list(texts)) @ self._names.T / self.temperature, axis=1)

    def embed_text(self, texts: list[str]) -> np.ndarray:
        """The queries' tag weights ``(Q, DIM)`` (scored with :meth:`text_scores`)."""
        return self.keyword_weights(texts).astype(np.float32)

    def text_scores(self, tracks: np.ndarray, texts: Sequence[str]) -> np.ndarray:
        """``(N, Q)``: track ``n``'s weighted sum of tag probabilities for query ``q``
        (``tracks`` ``(N, DIM)`` probabilities)."""
        return np.asarray(tracks, np.float64) @ self.keyword_weights(texts).T


PEERS = ("teacher-keyword", "teacher-vector")
"""The peer spec names (``teacher-keyword`` may name its text model: ``teacher-keyword:SPEC``;
either may name its teachers: ``teacher-vector?teachers=A+B``)."""


def is_peer(spec: object) -> bool:
    """Whether a baseline spec string names one of :data:`PEERS`."""
    return isinstance(spec, str) and spec.split(":", 1)[0].split("?", 1)[0] in PEERS


def _peer_teachers(kind: str, spec: str, taggers: Mapping[str, Any] | None
                   ) -> tuple[str, tuple[str, ...] | None]:
    """``teacher-keyword?teachers=A+B`` → ``("teacher-keyword", ("A", "B"))``; no option →
    ``(kind, None)`` (the default teachers). Names are checked against ``taggers`` when given,
    else against the shipped teachers."""
    kind, sep, query = kind.partition("?")
    if not sep:
        return kind, None
    key, eq, value = query.partition("=")
    if key.strip() != "teachers" or not eq or not value.strip():
        raise ValueError(f"peer {spec!r}: the only option is 'teachers=A+B+…' (teacher names "
                         f"joined by '+'), got {query!r}")
    names = tuple(n.strip() for n in value.split("+") if n.strip())
    if taggers is None:
        from lyrebird.train.teachers import TEACHERS as SHIPPED

        known: Sequence[str] = tuple(SHIPPED)
    else:
        known = tuple(taggers)
    bad = [n for n in names if n not in known]
    if bad or len(set(names)) != len(names):
        raise ValueError(f"peer {spec!r}: teachers must be distinct names from "
                         f"{', '.join(known)}; got {', '.join(names)}")
    return kind, names


def parse_peer(spec: str, text_model: Any = None, device: str = "cpu",
               taggers: Mapping[str, Any] | None = None) -> ModelSpec:
    """``teacher-keyword[?teachers=A+B…][:SPEC]`` / ``teacher-vector[?teachers=A+B…]`` →
    :class:`ModelSpec`.

    ``text_model``: the model under test, whose text tower ``teacher-keyword`` uses unless the
    spec names another (any :func:`lyrebird.index.model.load_model` spec). ``teachers``: the
    taggers of the peer (default :data:`TEACHERS`; e.g. all four musicnn models,
    ``teachers=MTT_musicnn+MSD_musicnn+MTT_vgg+MSD_vgg``); such a peer is named by its spec,
    so it can sit beside the default one.
    """
    head, _, arg = spec.partition(":")
    kind, names = _peer_teachers(head, spec, taggers)
    if names is not None and taggers is not None:
        taggers = {n: taggers[n] for n in names}
    names = names or (tuple(taggers) if taggers is not None else TEACHERS)
    who = "musicnn MTT+MSD" if names == TEACHERS else "+".join(names)
    label = head  # a peer of other teachers is named with its option
    if kind == "teacher-vector":
        m = TeacherVector(taggers, names)
        return ModelSpec(label, m, m.fingerprint(),
                         f"{who} tag logits ({m.DIM}), centred on the split; cosine")
    if kind == "teacher-keyword":
        if arg:
            from lyrebird.index.model import load_model

            text_model = load_model(arg, device=device)
        k = TeacherKeyword(text_model, taggers, names)
        via = f"text tower of {arg!r}" if arg else "text tower of the model under test"
        return ModelSpec(label, k, k.fingerprint(),
                         f"{who} tag probabilities; query → the {k.DIM} tag names via the "
                         f"{via}, softmax(cos/{k.temperature:g}); a name two teachers share "
                         "splits its weight (their mean)", audio_tasks=False)
    raise ValueError(f"unknown teacher peer {spec!r}; choose from {PEERS}")


__all__ = [
    "EPS",
    "PEERS",
    "TEACHERS",
    "TEMPERATURE",
    "TeacherKeyword",
    "TeacherTags",
    "TeacherVector",
    "is_peer",
    "logits",
    "parse_peer",
    "softmax",
]
