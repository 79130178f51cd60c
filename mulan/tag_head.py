"""The distilled tag head: a MuLan audio vector → the musicnn teachers' tag probabilities.

The head reads the **stored** 512-d audio vector of a window (what a library keeps for every
10 s segment), so tag probabilities of any library track or moment come from its vectors with
no audio model, and a library built before the head existed gains them without re-embedding.
It is trained by :mod:`lyrebird.train.trainers.tag_head` to predict, window by window, the
probabilities of the MTT and MSD musicnn teachers (100 outputs, :data:`HEAD_TAGS`) and their
penultimate features (an auxiliary target only).

A MuLan checkpoint carries it in a ``tag_head/`` subfolder (``config.json`` with the tag names
and per-tag thresholds calibrated on the valid split, ``model.safetensors``). It is not part
of :meth:`MuLan.fingerprint` — the vectors do not change — and has a fingerprint of its own.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lyrebird.core.checkpoint import CheckpointError, read_config
from lyrebird.core.configs import config_from_dict, config_to_dict
from lyrebird.core.fingerprint import arrays_fingerprint, stable_hash

from .text_files import mmap_arrays
from .vocabulary import LANGS, MSD_TOP50, TAG_SYNONYMS, mtt_top50, translate_tags

HEAD_DIR = "tag_head"
KIND = "tag_head"
NAME_VECTORS = "name_vectors.npz"  # the tag names' text vectors, keyed by the text tower


def head_tags() -> tuple[str, ...]:
    """The head's outputs in order: the MTT top-50 then the MSD top-50 (names may repeat:
    "rock" is in both)."""
    return tuple(mtt_top50()) + MSD_TOP50


@dataclass(frozen=True)
class TagHeadConfig:
    """The head: ``dim`` → ``hidden`` (GELU) → one logit per tag, plus a feature branch.

    Attributes:
        tags: output names (default :func:`head_tags`).
        dim: input width (the MuLan vector).
        hidden: hidden width (0: a linear head).
        feat_dim: width of the auxiliary feature output (0: none).
        thresholds: per-tag probability from which the tag counts as present (calibrated on
            the valid split; empty: 0.5 for every tag).
        mean_logit: the training segments' mean logit per tag (the centre of the centred tag
            logits used for similarity; empty: zeros).
        alpha, beta: fusion weights chosen on valid (:class:`lyrebird.mulan.tag_space.
            FusionWeights`: contrastive share of text search and of similarity).
        match_full: per-query fusion (:func:`lyrebird.mulan.tag_space.query_alpha`; 0: off).
        tag_score: how a track's tags score a text query, ``"sum"``, ``"log"`` or ``"z"``
            (:func:`lyrebird.mulan.tag_space.tag_scores`; chosen on valid).
    """

    tags: tuple[str, ...] = ()
    dim: int = 512
    hidden: int = 512
    feat_dim: int = 0
    thresholds: tuple[float, ...] = ()
    mean_logit: tuple[float, ...] = ()
    alpha: float = 0.5
    beta: float = 0.5
    match_full: float = 0.0
    tag_score: str = "sum"

    @property
    def names(self) -> tuple[str, ...]:
        return self.tags or head_tags()


class TagHead:
    """The saved head for inference, in NumPy: ``(N, dim)`` unit vectors → ``(N, n_tags)``
    probabilities (``trunk``: linear + GELU when ``hidden``; then one logit per tag). Trained
    and saved as :class:`lyrebird.mulan.tag_head_net.TagHeadNet`; loading it needs no torch.

    Args:
        cfg: the head's config.
        weights: ``trunk.0.weight (hidden, dim)``, ``trunk.0.bias`` (when ``hidden``),
            ``tags.weight (n_tags, width)``, ``tags.bias`` (and ``feats.*``, unused here).
        directory: the folder it was read from (where its stored name vectors are).
    """

    def __init__(self, cfg: TagHeadConfig, weights: dict[str, np.ndarray],
                 directory: Path | None = None):
        self.cfg, self._w, self._dir = cfg, weights, directory
        self._fp: str | None = None
        f32 = {k: np.asarray(v, np.float32) for k, v in weights.items()}
        self._trunk = (f32["trunk.0.weight"].T, f32["trunk.0.bias"]) if cfg.hidden else None
        self._tags = (f32["tags.weight"].T, f32["tags.bias"])

    @property
    def names(self) -> tuple[str, ...]:
        return self.cfg.names

    @property
    def thresholds(self) -> np.ndarray:
        """``(n_tags,)`` probabilities from which each tag is present."""
        t = self.cfg.thresholds
        return np.asarray(t if t else [0.5] * len(self.names), np.float32)

    @property
    def mean_logit(self) -> np.ndarray:
        """``(n_tags,)`` centre of the centred tag logits."""
        m = self.cfg.mean_logit
        return np.asarray(m if m else [0.0] * len(self.names), np.float32)

    def logits(self, vectors: np.ndarray, batch: int = 8192) -> np.ndarray:
        """``(N, dim)`` vectors → ``(N, n_tags)`` float32 logits."""
        from .query_tower import gelu

        x = np.asarray(vectors, np.float32).reshape(-1, self.cfg.dim)
        out = []
        for i in range(0, len(x), batch):
            h = x[i:i + batch]
            if self._trunk is not None:
                h = gelu(h @ self._trunk[0] + self._trunk[1])
            out.append(h @ self._tags[0] + self._tags[1])
        return (np.concatenate(out) if out else np.zeros((0, len(self.names)))).astype(np.float32)

    def probs(self, vectors: np.ndarray, batch: int = 8192) -> np.ndarray:
        """``(N, dim)`` vectors → ``(N, n_tags)`` float32 probabilities."""
        return (1.0 / (1.0 + np.exp(-self.logits(vectors, batch)))).astype(np.float32)

    def fingerprint(self) -> str:
        """Identity of the weights and config (hex; the same as the saved
        :class:`~lyrebird.mulan.tag_head_net.TagHeadNet`'s)."""
        if self._fp is None:  # hashing 4 MB of weights per search would cost ~5 ms each
            self._fp = f"{stable_hash(arrays_fingerprint(self._w), config_to_dict(self.cfg)):016x}"
        return self._fp

    @classmethod
    def load(cls, directory: str | os.PathLike) -> TagHead:
        """Read a head saved by :meth:`lyrebird.mulan.tag_head_net.TagHeadNet.save`."""
        d = Path(directory)
        meta = read_config(d)
        if meta.get("kind") != KIND:
            raise CheckpointError(f"'{d}': kind is {meta.get('kind')!r}, not a tag head")
        cfg = config_from_dict(TagHeadConfig, meta["config"], where=f"{d}/config.json")
        try:
            w = mmap_arrays(d / "model.safetensors")
        except (OSError, ValueError) as e:
            raise CheckpointError(f"'{d}': unreadable model.safetensors ({e})") from e
        width = cfg.hidden or cfg.dim
        need = {"tags.weight": (len(cfg.names), width), "tags.bias": (len(cfg.names),)}
        if cfg.hidden:
            need |= {"trunk.0.weight": (cfg.hidden, cfg.dim), "trunk.0.bias": (cfg.hidden,)}
        if cfg.feat_dim:
            need |= {"feats.weight": (cfg.feat_dim, width), "feats.bias": (cfg.feat_dim,)}
        bad = {k: tuple(w[k].shape) if k in w else None for k, s in need.items()
               if k not in w or tuple(w[k].shape) != s}
        if bad or set(w) - set(need):
            raise CheckpointError(f"'{d}': weights do not fit the tag head config; expected "
                                  f"{need}, got {({k: tuple(v.shape) for k, v in w.items()})}")
        return cls(cfg, w, d)

    def stored_name_vectors(self, text_key: str) -> dict[str, np.ndarray] | None:
        """The tag names' text vectors saved with the head (:func:`save_name_vectors`) when
        they were made by the text tower ``text_key`` identifies, else ``None``."""
        path = self._dir / NAME_VECTORS if self._dir is not None else None
        if path is None or not path.is_file():
            return None
        with np.load(path) as z:
            if str(z["text_key"]) != text_key:
                return None
            return dict(zip(z["texts"].tolist(), z["vectors"].astype(np.float32), strict=True))


def save_name_vectors(directory: str | os.PathLike, text_key: str, texts: list[str],
                      vectors: np.ndarray) -> Path:
    """Store the text vectors ``(N, D)`` of a head's tag names (every language and synonym),
    so a library's first tag-space query embeds none of them; ``text_key`` names the text
    tower that made them (:func:`lyrebird.index.model.text_key`)."""
    from lyrebird.core.atomic import replaced_on_success

    path = Path(directory) / NAME_VECTORS
    with replaced_on_success(path) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, text_key=np.array(text_key), texts=np.array(texts),
                 vectors=np.asarray(vectors, np.float32))
    return path


def find_head(checkpoint_dir: str | os.PathLike) -> TagHead | None:
    """The tag head a MuLan checkpoint folder carries (``tag_head/``), or ``None``."""
    d = Path(checkpoint_dir) / HEAD_DIR
    return TagHead.load(d) if (d / "config.json").is_file() else None


def tag_groups(names: tuple[str, ...]) -> tuple[list[list[str]], np.ndarray]:
    """The head's outputs as concepts: a name given twice (a tag of both teachers) and the
    synonyms of :data:`lyrebird.mulan.vocabulary.TAG_SYNONYMS` are one group. Returns each
    group's names in every language (its members' names, English first) and ``(T,)`` the
    group of each output."""
    label = {m: g for g, members in TAG_SYNONYMS.items() for m in members}
    order: dict[str, int] = {}
    col = np.array([order.setdefault(label.get(n, n), len(order)) for n in names], np.int64)
    langs = tag_names_all_languages(tuple(dict.fromkeys(names)))
    by_name = dict(zip(dict.fromkeys(names), langs, strict=True))
    groups: list[list[str]] = [[] for _ in order]
    for n in dict.fromkeys(names):
        groups[order[label.get(n, n)]] += [x for x in by_name[n] if x not in groups[order[label.get(n, n)]]]
    return groups, col


def tag_names_all_languages(names: tuple[str, ...]) -> list[list[str]]:
    """For each tag, its name in every language of :data:`LANGS` (English first)."""
    per_lang = [translate_tags(names, lang) for lang in LANGS]
    return [[per_lang[j][i] for j in range(len(LANGS))] for i in range(len(names))]


__all__ = ["HEAD_DIR", "NAME_VECTORS", "TagHead", "TagHeadConfig", "find_head", "head_tags",
           "save_name_vectors", "tag_groups", "tag_names_all_languages"]
