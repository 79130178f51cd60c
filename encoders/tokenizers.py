"""Tokenizers: the targets of masked token prediction, all behind one interface.

A tokenizer maps stacked mel frames to ``N`` parallel streams of integer tokens:

* ``encode(feats)``: ``(T, F) → (T, N)`` or ``(B, T, F) → (B, T, N)`` int64, frame-major
  (``F = 512`` stacked ``muq`` mel features at 25 Hz; transpose ``MelFrontend`` output first);
* ``fit(batches, ...)``: trains the tokenizers that need it (Mel-RVQ, iterative); for the
  frozen ones it only estimates the per-dimension input statistics (``standardize``);
* ``num_streams`` (``N``) and ``vocab_size`` (``K``, tokens per stream).

Kinds (:class:`TokenizerConfig.kind`):

* ``"random"``: BEST-RQ random-projection quantizer (seed 001, 003): a frozen Xavier-uniform
  projection ``F → d`` and a frozen ``N(0, 1)`` codebook ``(K, d)``; the token is the nearest
  codeword after l2-normalising both. ``N > 1`` gives OMAR-RQ's *multi-codebook*: ``N``
  independent quantizers drawn from seeds ``seed, seed+1, …``.
* ``"fsq"``: finite scalar quantization (OMAR-RQ) on a frozen random projection to
  ``len(fsq_levels)`` channels; ``N`` parallel projections as for ``"random"``.
* ``"melrvq"``: MuQ's Mel-RVQ (:mod:`lyrebird.encoders.melrvq`), trained with ``fit``.
* ``"iter"``: Mel-RVQ fitted on layer-``layer`` latents of a trained encoder (MuQ_iter).

Frozen tokenizers are deterministic functions of their config (and, when standardising, of
the fitted statistics): the same seed gives the same tokens on any machine (their tables are
drawn on the CPU generator).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import torch
import torch.nn.functional as F
from torch import nn

from .backbone import BackboneConfig

TokenizerKind = Literal["random", "fsq", "melrvq", "iter"]


@dataclass(frozen=True)
class TokenizerConfig:
    """How targets are made.

    Attributes:
        kind: ``random`` | ``fsq`` | ``melrvq`` | ``iter`` (see the module docstring).
        in_dim: features per input frame (512 for the stacked ``muq`` mel preset).
        num_codebooks: ``N`` token streams (parallel for random/fsq, residual for RVQ).
        codebook_size: ``K`` codewords per codebook (random, melrvq, iter).
        codebook_dim: projected dimension ``d`` (random, melrvq, iter).
        fsq_levels: quantization levels per FSQ channel; ``K = prod(levels)``.
        seed: seed of the frozen tables (random, fsq) or of the initialisation (RVQ).
        standardize: standardise each input dimension with statistics estimated by ``fit``
            (BEST-RQ normalises its input the same way; identity until fitted).
        layer: iter only: which hidden state of the source encoder (0 = stem output).
        backbone: iter only: the source encoder's backbone architecture.
        path: checkpoint directory of a fitted tokenizer (melrvq, iter), or ``None``.
    """

    kind: TokenizerKind = "random"
    in_dim: int = 512
    num_codebooks: int = 1
    codebook_size: int = 8192
    codebook_dim: int = 16
    fsq_levels: tuple[int, ...] = (6, 6, 6, 6, 6)
    seed: int = 0
    standardize: bool = True
    layer: int | None = None
    backbone: BackboneConfig | None = None
    path: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in ("random", "fsq", "melrvq", "iter"):
            raise ValueError(f"TokenizerConfig.kind must be random|fsq|melrvq|iter, got {self.kind!r}")
        for name in ("in_dim", "num_codebooks", "codebook_size", "codebook_dim"):
            if getattr(self, name) <= 0:
                raise ValueError(f"TokenizerConfig.{name} must be > 0, got {getattr(self, name)}")
        if self.kind == "fsq" and (not self.fsq_levels or min(self.fsq_levels) < 2):
            raise ValueError(f"TokenizerConfig.fsq_levels must be levels >= 2, got {self.fsq_levels}")
        if self.kind == "iter" and (self.layer is None or self.backbone is None):
            raise ValueError("TokenizerConfig.layer and TokenizerConfig.backbone are required "
                             "for kind 'iter'")

    @property
    def vocab_size(self) -> int:
        """Tokens per stream ``K``."""
        return math.prod(self.fsq_levels) if self.kind == "fsq" else self.codebook_size

    @property
    def needs_fit(self) -> bool:
        return self.kind in ("melrvq", "iter")


def codebook_stats(tokens: torch.Tensor, vocab_size: int) -> dict[str, Any]:
    """Utilisation and perplexity of ``tokens`` ``(..., N)`` over a vocabulary of ``vocab_size``.

    Per stream: ``utilisation`` = fraction of the codewords used at least once;
    ``perplexity`` = ``exp(entropy)`` of the empirical token distribution (1 = one codeword,
    ``vocab_size`` = uniform use). Also returns the means over streams.
    """
    flat = tokens.reshape(-1, tokens.shape[-1]).long().cpu()
    util, ppl = [], []
    for n in range(flat.shape[1]):
        counts = torch.bincount(flat[:, n], minlength=vocab_size).double()
        p = counts / counts.sum().clamp_min(1.0)
        util.append(float((counts > 0).double().mean()))
        ent = -(p[p > 0] * p[p > 0].log()).sum()
        ppl.append(float(ent.exp()))
    return {"utilisation": util, "perplexity": ppl, "frames": int(flat.shape[0]),
            "mean_utilisation": sum(util) / len(util), "mean_perplexity": sum(ppl) / len(ppl)}


class Tokenizer(nn.Module):
    """Base class. Subclasses implement :meth:`codes` (per frame) or :meth:`encode_sequences`."""

    trainable: ClassVar[bool] = False
    chunk_frames: ClassVar[int] = 16384  # frames per nearest-neighbour block (bounds memory)

    def __init__(self, cfg: TokenizerConfig):
        super().__init__()
        self.cfg = cfg

    def _init_standardization(self, dim: int) -> None:
        """Per-dimension ``mean``/``std`` buffers ``(dim,)`` (identity until fitted)."""
        self.register_buffer("mean", torch.zeros(dim))
        self.register_buffer("std", torch.ones(dim))

    def standardized(self, x: torch.Tensor) -> torch.Tensor:
        """``(M, dim)`` → standardised with the fitted statistics (if ``cfg.standardize``)."""
        return (x - self.mean) / self.std if self.cfg.standardize else x

    @torch.no_grad()
    def fit_standardization(self, x: torch.Tensor) -> None:
        """Set the per-dimension mean/std from ``(M, dim)`` frames (if ``cfg.standardize``)."""
        if self.cfg.standardize:
            self.mean.copy_(x.mean(0))
            self.std.copy_(x.std(0).clamp_min(1e-5))

    @property
    def num_streams(self) -> int:
        return self.cfg.num_codebooks

    @property
    def vocab_size(self) -> int:
        return self.cfg.vocab_size

    @property
    def in_dim(self) -> int:
        return self.cfg.in_dim

    def codes(self, x: torch.Tensor) -> torch.Tensor:
        """``(M, F)`` frames → ``(M, N)`` int64 tokens."""
        raise NotImplementedError

    def encode_sequences(self, feats: torch.Tensor,
                         pad_mask: torch.Tensor | None = None) -> torch.Tensor:
        """``(B, T, F)`` → ``(B, T, N)``. Frame-wise by default (context-free tokenizers)."""
        b, t, f = feats.shape
        flat = feats.reshape(b * t, f)
        out = [self.codes(flat[i : i + self.chunk_frames])
               for i in range(0, max(1, flat.shape[0]), self.chunk_frames)]
        return torch.cat(out).reshape(b, t, -1)

    @torch.no_grad()
    def encode(self, feats: torch.Tensor, pad_mask: torch.Tensor | None = None) -> torch.Tensor:
        """Stacked mel frames ``(T, F)`` or ``(B, T, F)`` → tokens ``(T, N)`` / ``(B, T, N)``."""
        if feats.ndim not in (2, 3) or feats.shape[-1] != self.in_dim:
            raise ValueError(f"{type(self).__name__}.encode expects (T, {self.in_dim}) or "
                             f"(B, T, {self.in_dim}) frame-major features, got "
                             f"{tuple(feats.shape)} (transpose MelFrontend's (B, F, T) output)")
        single = feats.ndim == 2
        x = feats[None] if single else feats
        p = next(iter(self.buffers()), None)
        x = x.to(p.device if p is not None else x.device, torch.float32)
        tok = self.encode_sequences(x, pad_mask)
        return tok[0] if single else tok

    def fit(self, batches, **kwargs) -> dict[str, Any]:
        """Train on ``batches`` of frames; frozen tokenizers have nothing to fit."""
        return {"fitted": False, "reason": f"{self.cfg.kind} tokenizer is frozen"}

    def stats(self, feats: torch.Tensor) -> dict[str, Any]:
        """:func:`codebook_stats` of the tokens of ``feats`` ``(T, F)`` or ``(B, T, F)``."""
        return codebook_stats(self.encode(feats), self.vocab_size)


def xavier_projection(in_dim: int, out_dim: int, g: torch.Generator) -> torch.Tensor:
    """Frozen Xavier-uniform matrix ``(out_dim, in_dim)`` drawn from ``g``."""
    bound = math.sqrt(6.0 / (in_dim + out_dim))
    return (torch.rand(out_dim, in_dim, generator=g) * 2.0 - 1.0) * bound


def nearest_normalized(z: torch.Tensor, codebook: torch.Tensor) -> torch.Tensor:
    """Index ``(M,)`` of the codeword in ``(K, d)`` closest to each ``z`` ``(M, d)`` after
    l2-normalising both (= the largest cosine similarity)."""
    return (F.normalize(z, dim=-1) @ F.normalize(codebook, dim=-1).T).argmax(dim=-1)


class RandomProjectionQuantizer(Tokenizer):
    """One BEST-RQ quantizer: frozen projection + frozen codebook, one stream."""

    def __init__(self, cfg: TokenizerConfig, seed: int):
        super().__init__(cfg)
        g = torch.Generator().manual_seed(seed)
        self.register_buffer("projection", xavier_projection(cfg.in_dim, cfg.codebook_dim, g))
        self.register_buffer("codebook", torch.randn(cfg.codebook_size, cfg.codebook_dim, generator=g))

    @property
    def num_streams(self) -> int:
        return 1

    def codes(self, x: torch.Tensor) -> torch.Tensor:
        return nearest_normalized(x @ self.projection.T, self.codebook)[:, None]


class FSQQuantizer(Tokenizer):
    """Finite scalar quantization of a frozen random projection, one stream.

    Channel ``c`` is bounded to ``L_c`` levels with ``tanh`` (offset by ½ for even ``L_c`` so
    that rounding gives exactly ``L_c`` values), rounded, and the per-channel levels are read as
    one mixed-radix integer in ``[0, prod(L))``.
    """

    def __init__(self, cfg: TokenizerConfig, seed: int, eps: float = 1e-3):
        super().__init__(cfg)
        g = torch.Generator().manual_seed(seed)
        lv = torch.tensor(cfg.fsq_levels, dtype=torch.float32)
        self.register_buffer("projection", xavier_projection(cfg.in_dim, len(cfg.fsq_levels), g))
        self.register_buffer("levels", lv, persistent=False)
        basis = torch.cumprod(torch.tensor([1, *cfg.fsq_levels[:-1]]), 0)
        self.register_buffer("basis", basis, persistent=False)
        self.eps = eps

    @property
    def num_streams(self) -> int:
        return 1

    def bound(self, z: torch.Tensor) -> torch.Tensor:
        """``(M, C)`` → values in ``(-L/2, L/2)`` per channel whose rounding has ``L`` levels."""
        half = (self.levels - 1) * (1 - self.eps) / 2
        offset = torch.where(self.levels % 2 == 0, 0.5, 0.0)
        shift = torch.atanh(offset / half)
        return torch.tanh(z + shift) * half - offset

    def codes(self, x: torch.Tensor) -> torch.Tensor:
        q = torch.round(self.bound(x @ self.projection.T))  # integers in [-L//2, (L-1)//2]
        digits = (q + torch.div(self.levels, 2, rounding_mode="floor")).long()
        return (digits * self.basis).sum(-1, keepdim=True)


class MultiCodebook(Tokenizer):
    """``N`` frozen single-stream quantizers with seeds ``seed + n``, run in parallel.

    With ``standardize``, inputs are first standardised per dimension; as in BEST-RQ, this
    keeps the random projection from sending almost every frame to the same few codewords.
    ``fit`` only estimates these statistics; projections and codebooks never change.
    """

    def __init__(self, cfg: TokenizerConfig):
        super().__init__(cfg)
        make = RandomProjectionQuantizer if cfg.kind == "random" else FSQQuantizer
        self.quantizers = nn.ModuleList(make(cfg, cfg.seed + n) for n in range(cfg.num_codebooks))
        self._init_standardization(cfg.in_dim)

    def codes(self, x: torch.Tensor) -> torch.Tensor:
        x = self.standardized(x)
        return torch.cat([q.codes(x) for q in self.quantizers], dim=-1)

    def fit(self, batches, steps: int = 50, **kwargs) -> dict[str, Any]:
        """Estimate the input statistics from up to ``steps`` batches of ``(M, F)`` frames."""
        if not self.cfg.standardize:
            return super().fit(batches)
        frames = []
        for i, x in enumerate(batches):
            frames.append(x.reshape(-1, x.shape[-1]).float().cpu())
            if i + 1 >= steps:
                break
        self.fit_standardization(torch.cat(frames).to(self.mean.device))
        return {"fitted": True, "what": "input statistics", "frames": sum(map(len, frames)),
                "history": [], "restarted_codewords": 0}
