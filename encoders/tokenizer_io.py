"""Build, save and load tokenizers of every kind (the one place that knows them all).

Kept apart from :mod:`.tokenizers` (the base classes) so that :mod:`.melrvq` can build on
those without an import cycle.
"""

from __future__ import annotations

import os
from typing import Any

from lyrebird.core.checkpoint import (
    CheckpointError,
    load_checkpoint,
    load_state_strict,
    save_checkpoint,
)
from lyrebird.core.configs import config_from_dict, config_to_dict

from .melrvq import LatentRVQ, MelRVQ
from .tokenizers import MultiCodebook, Tokenizer, TokenizerConfig


def build_tokenizer(cfg: TokenizerConfig) -> Tokenizer:
    """A tokenizer from its config: frozen kinds are ready to use; RVQ kinds start untrained."""
    if cfg.kind in ("random", "fsq"):
        return MultiCodebook(cfg)
    return MelRVQ(cfg) if cfg.kind == "melrvq" else LatentRVQ(cfg)


def save_tokenizer(tok: Tokenizer, directory: str | os.PathLike,
                   extra: dict[str, Any] | None = None) -> None:
    """Write ``tok`` as a checkpoint directory (``kind = "tokenizer"``)."""
    cfg = config_to_dict(tok.cfg)
    cfg["path"] = None
    save_checkpoint(directory, tok.state_dict(), kind="tokenizer", preset=tok.cfg.kind,
                    config=cfg, extra=extra)


def load_tokenizer(directory: str | os.PathLike) -> Tokenizer:
    """Read a tokenizer written by :func:`save_tokenizer` (CPU, eval mode)."""
    meta, sd = load_checkpoint(directory)
    if meta["kind"] != "tokenizer":
        raise CheckpointError(f"'{directory}': kind is {meta['kind']!r}, not a tokenizer")
    cfg = config_from_dict(TokenizerConfig, {**meta["config"], "path": str(directory)})
    tok = build_tokenizer(cfg)
    load_state_strict(tok, sd, str(directory))
    return tok.eval()


def tokenizer_from_config(cfg: TokenizerConfig) -> Tokenizer:
    """Load ``cfg.path`` when set (checking it matches ``cfg``), else build ``cfg``.

    Raises ``ValueError`` for a trainable kind without a fitted checkpoint.
    """
    if cfg.path:
        tok = load_tokenizer(cfg.path)
        for f in ("kind", "num_codebooks", "codebook_size", "in_dim"):
            if getattr(tok.cfg, f) != getattr(cfg, f):
                raise ValueError(f"TokenizerConfig.{f}={getattr(cfg, f)!r} does not match the "
                                 f"checkpoint '{cfg.path}' ({getattr(tok.cfg, f)!r})")
        return tok
    if cfg.needs_fit:
        raise ValueError(f"TokenizerConfig.path: a {cfg.kind} tokenizer must be fitted first "
                         f"(lyrebird train melrvq) and its directory given as path")
    return build_tokenizer(cfg).eval()
