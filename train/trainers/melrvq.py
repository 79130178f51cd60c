"""Fitting tokenizers on a mel cache, with codebook-utilisation reports.

``fit_tokenizer`` estimates the input statistics of a frozen tokenizer (random, FSQ), trains a :class:`~lyrebird.encoders.melrvq.MelRVQ` on stacked ``muq`` mel
frames, or, given a trained encoder and a layer, a
:class:`~lyrebird.encoders.melrvq.LatentRVQ` on that layer's latents (MuQ_iter). The result
is a tokenizer checkpoint directory (``config.json`` + ``model.safetensors``) plus
``report.json`` with the loss curve and, per codebook, the utilisation (fraction of the ``K``
codewords used on held-out frames) and the perplexity (``exp`` of the token entropy).
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lyrebird.core.checkpoint import load_checkpoint, read_config
from lyrebird.core.configs import config_from_dict
from lyrebird.core.device import best_device
from lyrebird.encoders.mel import MelConfig
from lyrebird.encoders.melrvq import LatentRVQ
from lyrebird.encoders.tokenizer_io import build_tokenizer, save_tokenizer
from lyrebird.encoders.tokenizers import TokenizerConfig, codebook_stats

from .melcache import MelCache, build_mel_cache

log = logging.getLogger("lyrebird.train")


def split_positions(cache: MelCache, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``(train, valid)`` clip positions; without splits, 5 % of the clips are held out."""
    train, valid = cache.split("train"), cache.split("valid")
    if len(train) == 0:
        train = np.arange(len(cache.index))
    if len(valid) == 0:
        rng = np.random.default_rng(seed)
        valid = np.sort(rng.choice(train, size=max(1, len(train) // 20), replace=False))
        if len(train) > 1:
            train = np.setdiff1d(train, valid)
    return train, valid


def stacked(mel: np.ndarray, stack: int) -> np.ndarray:
    """``(n_mels, frames)`` at 100 Hz → ``(frames // stack, n_mels * stack)`` float32, with the
    layout of ``MelFrontend.stack_frames`` (feature ``k*n_mels + f`` = band ``f`` of sub-frame
    ``k``)."""
    n, t = mel.shape
    t2 = t // stack
    return np.ascontiguousarray(mel[:, : t2 * stack].T, dtype=np.float32).reshape(t2, n * stack)


Pool = list[tuple[MelCache, np.ndarray]]
"""Clips to sample from: ``(cache, positions into its index)`` for each source."""


def split_pool(caches: Sequence[MelCache], seed: int = 0) -> tuple[Pool, Pool]:
    """``(train, valid)`` pools over several caches (see :func:`split_positions`)."""
    splits = [split_positions(c, seed) for c in caches]
    return ([(c, t) for c, (t, _) in zip(caches, splits, strict=True)],
            [(c, v) for c, (_, v) in zip(caches, splits, strict=True)])


def sequence_batches(pool: Pool, frames: int, stack: int, batch: int,
                     seed: int = 0) -> Iterator[torch.Tensor]:
    """Endless random crops ``(B, frames, F)`` of stacked mel, each from a clip drawn uniformly
    over all clips of ``pool`` (clips shorter than a crop are repeated to fill it)."""
    rng = np.random.default_rng(seed)
    sizes = np.array([len(p) for _, p in pool])
    if sizes.sum() == 0:
        raise ValueError("no clips to sample from")
    bounds = np.cumsum(sizes)
    while True:
        out = []
        for k in rng.integers(0, bounds[-1], size=batch):
            ci = int(np.searchsorted(bounds, k, side="right"))
            cache, pos = pool[ci]
            x = stacked(cache.clip(int(pos[k - (bounds[ci - 1] if ci else 0)])), stack)
            if len(x) < frames:
                x = np.concatenate([x] * (frames // max(1, len(x)) + 1))
            s = int(rng.integers(0, len(x) - frames + 1))
            out.append(x[s : s + frames])
        yield torch.from_numpy(np.stack(out))


def frame_batches(pool: Pool, stack: int, batch_frames: int, seed: int = 0,
                  clips_per_batch: int = 32) -> Iterator[torch.Tensor]:
    """Endless batches ``(batch_frames, F)`` of stacked mel frames from random clips."""
    per = max(1, batch_frames // clips_per_batch)
    for seq in sequence_batches(pool, per, stack, clips_per_batch, seed):
        yield seq.reshape(-1, seq.shape[-1])[:batch_frames]


def _source_backbone(encoder_dir: str | Path) -> tuple[dict, dict[str, torch.Tensor]]:
    """Backbone config dict and weights of a trained ``muq`` encoder checkpoint."""
    meta = read_config(encoder_dir)
    if meta["kind"] != "muq":
        raise ValueError(f"'{encoder_dir}': iterative refinement needs a 'muq' encoder, "
                         f"got kind {meta['kind']!r}")
    _, sd = load_checkpoint(encoder_dir)
    weights = {k[len("backbone."):]: v for k, v in sd.items() if k.startswith("backbone.")}
    return meta["config"]["backbone"], weights


def fit_tokenizer(caches: MelCache | Sequence[MelCache], cfg: TokenizerConfig,
                  out_dir: str | Path, *,
                  steps: int = 2000, batch_frames: int = 4096, lr: float = 1e-3,
                  restart_every: int = 10, encoder: str | Path | None = None,
                  layer: int | None = None, clip_frames: int = 250, seed: int = 0,
                  device: str | torch.device | None = None, eval_frames: int = 50_000,
                  ) -> dict[str, Any]:
    """Fit a Mel-RVQ (or, with ``encoder`` and ``layer``, a latent RVQ) and save it.

    Args:
        caches: mel cache(s) built with the ``muq`` preset (unstacked; stacked here); clips
            are drawn uniformly over all of them.
        cfg: the tokenizer config (``kind`` is set to ``melrvq``/``iter`` as appropriate).
        out_dir: where the tokenizer checkpoint and ``report.json`` go.
        steps, batch_frames, lr, restart_every: optimisation (see ``MelRVQ.fit``).
        encoder, layer: a trained ``muq`` encoder directory and the hidden state to quantize.
        clip_frames: 25 Hz frames per sequence fed to the encoder (iterative only).
        eval_frames: held-out frames tokenized for the utilisation report.

    Returns the report (also written to ``out_dir/report.json``).
    """
    out = Path(out_dir)
    caches = [caches] if isinstance(caches, MelCache) else list(caches)
    stack = cache_stack(caches[0], cfg)
    train_pool, valid_pool = split_pool(caches, seed)
    dev = torch.device(device) if device is not None else best_device()
    if encoder is not None:
        if layer is None:
            raise ValueError("fit_tokenizer: layer is required with encoder")
        bb_dict, bb_weights = _source_backbone(encoder)
        from lyrebird.encoders.backbone import BackboneConfig

        cfg = dataclasses.replace(cfg, kind="iter", layer=layer, standardize=True,
                                  backbone=config_from_dict(BackboneConfig, bb_dict), path=None)
        tok = build_tokenizer(cfg)
        assert isinstance(tok, LatentRVQ)
        tok.backbone.load_state_dict(bb_weights)
        seqs = max(1, batch_frames // clip_frames)
        batches = sequence_batches(train_pool, clip_frames, stack, seqs, seed)
        held = next(sequence_batches(valid_pool, clip_frames, stack,
                                     max(1, eval_frames // clip_frames), seed + 1))
    else:
        if cfg.kind == "iter":
            raise ValueError("fit_tokenizer: an 'iter' tokenizer needs encoder and layer")
        cfg = dataclasses.replace(cfg, path=None)
        tok = build_tokenizer(cfg)
        batches = frame_batches(train_pool, stack, batch_frames, seed)
        held = next(frame_batches(valid_pool, stack, eval_frames, seed + 1))[None]
        if not cfg.needs_fit:  # frozen: only the input statistics are estimated
            steps = min(steps, 50)
    tok.to(dev)
    log.info("fitting %s tokenizer: %d codebooks x %d, %d steps of %d frames on %s",
             cfg.kind, cfg.num_codebooks, cfg.vocab_size, steps, batch_frames, dev)
    fit = tok.fit(batches, steps=steps, lr=lr, restart_every=restart_every)
    tokens = torch.cat([tok.encode(held[i : i + 16]).cpu() for i in range(0, len(held), 16)])
    stats = codebook_stats(tokens, cfg.vocab_size)
    final = fit["history"][-1] if fit.get("history") else None
    report = {"kind": cfg.kind, "steps": steps, "final_loss": final,
              "restarted_codewords": fit["restarted_codewords"], "heldout": stats,
              "encoder": str(encoder) if encoder else None, "layer": layer,
              "history": fit.get("history", [])[:: max(1, steps // 200)]}
    save_tokenizer(tok.cpu(), out, extra={"report": {k: v for k, v in report.items()
                                                     if k != "history"}})
    (out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    return report


def cache_stack(cache: MelCache, cfg: TokenizerConfig) -> int:
    """Stacking factor that turns the cache's ``n_mels`` into ``cfg.in_dim`` features."""
    if cfg.in_dim % cache.cfg.n_mels:
        raise ValueError(f"TokenizerConfig.in_dim={cfg.in_dim} is not a multiple of the cache's "
                         f"{cache.cfg.n_mels} mel bands")
    return cfg.in_dim // cache.cfg.n_mels


def format_report(rep: dict[str, Any]) -> str:
    """Human-readable utilisation/perplexity table of a :func:`fit_tokenizer` report."""
    h = rep["heldout"]
    f = rep["final_loss"]
    head = (f"{rep['kind']} tokenizer (frozen; input statistics only)" if f is None else
            f"{rep['kind']} tokenizer after {rep['steps']} steps: loss {f['loss']:.4f} "
            f"(code {f['code']:.4f}, commit {f['commit']:.4f}, recon {f['recon']:.4f}); "
            f"{rep['restarted_codewords']} codewords re-seeded")
    lines = [head, f"held-out frames: {h['frames']}",
             f"{'codebook':>8s} {'utilisation':>12s} {'perplexity':>11s}"]
    for i, (u, p) in enumerate(zip(h["utilisation"], h["perplexity"], strict=True)):
        lines.append(f"{i:8d} {100 * u:11.1f}% {p:11.1f}")
    lines.append(f"{'mean':>8s} {100 * h['mean_utilisation']:11.1f}% {h['mean_perplexity']:11.1f}")
    return "\n".join(lines)


def train_melrvq(data: str | Path | Sequence[str | Path], out_dir: str | Path,
                 cfg: TokenizerConfig, mel: MelConfig, **kwargs) -> dict[str, Any]:
    """Build the mel caches of ``data`` (manifests and/or folders) and :func:`fit_tokenizer`."""
    sources = [data] if isinstance(data, str | Path) else list(data)
    caches = [build_mel_cache(d, mel) for d in sources]
    torch.manual_seed(kwargs.get("seed", 0))
    return fit_tokenizer(caches, cfg, out_dir, **kwargs)
