"""Mel-RVQ (MuQ, seed 004) and its iterative-refinement variant on encoder latents.

Mel-RVQ quantizes each stacked mel frame ``x`` (``D = 512``) in ``N`` residual steps. Step
``n`` has a linear encoder ``P_n: D → d``, a codebook ``Q_n`` of ``K`` codewords in ``R^d``
and a linear decoder ``M_n: d → D``::

    r_0 = x
    z_n = P_n r_{n-1}
    τ_n = argmin_i ‖norm(z_n) − norm(Q_n[i])‖          (nearest in l2-normalised space)
    r_n = r_{n-1} − M_n Q_n[τ_n]
    x̂   = Σ_n M_n Q_n[τ_n]

Training loss on a batch of ``M`` frames (each term averaged over frames, summed over the
``N`` steps and the vector dimensions, as in Eqs. 1–4 of the paper)::

    code   = mean_x Σ_n ‖norm(Q_n[τ_n]) − sg(norm(z_n))‖²
    commit = mean_x Σ_n ‖norm(z_n) − sg(norm(Q_n[τ_n]))‖²
    recon  = mean_x ‖x̂ − x‖²
    loss   = code + 0.25 · commit + recon

``sg`` is stop-gradient. MuQ uses ``N = 8``, ``K = 1024``; ``d = 16`` keeps the model under
the paper's 0.3 M parameters. Two additions of ours, both configurable: inputs are
standardised per dimension with statistics taken at the start of ``fit``
(``TokenizerConfig.standardize``; a globally standardised mel still has a large common
component that makes every projection point the same way), and ``fit`` re-seeds codewords
left unused over ``restart_every`` steps from current projections (against codebook
collapse; 0 turns it off). Measured on the demo corpus (8 × 1024, batches of 4096 frames,
held-out frames): without restarts the codebooks collapse to 1.3 % utilisation and a
perplexity of 2–3 after 300 steps; re-seeding every 10 steps gives 64 % utilisation and
perplexities of 167–351 after 1000 steps (every 100 steps: 22 % and 9–56).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from .backbone import Backbone
from .tokenizers import Tokenizer, TokenizerConfig, codebook_stats

log = logging.getLogger("lyrebird.encoders")

COMMIT_WEIGHT = 0.25  # β of Eq. 4
CODE_WEIGHT = 1.0  # α of Eq. 4


@dataclass
class RVQOutput:
    """Result of :meth:`MelRVQ.quantize` on ``M`` frames.

    Attributes:
        codes: ``(M, N)`` int64 token per residual step.
        recon: ``(M, D)`` reconstruction ``x̂`` (in standardised units if ``standardize``).
        target: ``(M, D)`` the (standardised) input it reconstructs.
        z: per step ``(M, d)`` projections ``z_n``.
        q: per step ``(M, d)`` selected codewords ``Q_n[τ_n]``.
    """

    codes: torch.Tensor
    recon: torch.Tensor
    target: torch.Tensor
    z: list[torch.Tensor]
    q: list[torch.Tensor]


class MelRVQ(Tokenizer):
    """Linear residual vector quantizer (see the module docstring)."""

    trainable: ClassVar[bool] = True

    def __init__(self, cfg: TokenizerConfig, in_dim: int | None = None):
        super().__init__(cfg)
        dim = in_dim or cfg.in_dim
        n, k, d = cfg.num_codebooks, cfg.codebook_size, cfg.codebook_dim
        g = torch.Generator().manual_seed(cfg.seed)
        self.encoders = nn.ModuleList(nn.Linear(dim, d, bias=False) for _ in range(n))
        self.decoders = nn.ModuleList(nn.Linear(d, dim, bias=False) for _ in range(n))
        with torch.no_grad():  # decoders start at zero: x̂ = 0 rather than a large random guess
            for lin in self.encoders:
                bound = 1.0 / lin.weight.shape[1] ** 0.5
                lin.weight.copy_((torch.rand(lin.weight.shape, generator=g) * 2 - 1) * bound)
            for lin in self.decoders:
                lin.weight.zero_()
        self.codebooks = nn.Parameter(torch.randn(n, k, d, generator=g))
        self._init_standardization(dim)

    def quantize(self, x: torch.Tensor) -> RVQOutput:
        """``(M, D)`` frames → :class:`RVQOutput` (differentiable; see the module docstring)."""
        x = self.standardized(x)
        r, recon = x, torch.zeros_like(x)
        codes, zs, qs = [], [], []
        for n in range(len(self.encoders)):
            z = self.encoders[n](r)
            idx = (F.normalize(z, dim=-1) @ F.normalize(self.codebooks[n], dim=-1).T).argmax(-1)
            q = self.codebooks[n][idx]
            dec = self.decoders[n](q)
            r = r - dec
            recon = recon + dec
            codes.append(idx)
            zs.append(z)
            qs.append(q)
        return RVQOutput(torch.stack(codes, dim=-1), recon, x, zs, qs)

    def codes(self, x: torch.Tensor) -> torch.Tensor:
        return self.quantize(x).codes

    @staticmethod
    def loss_terms(out: RVQOutput) -> dict[str, torch.Tensor]:
        """``{"code", "commit", "recon", "loss"}`` scalars for one :meth:`quantize` output."""
        code = commit = out.recon.new_zeros(())
        for z, q in zip(out.z, out.q, strict=True):
            zn, qn = F.normalize(z, dim=-1), F.normalize(q, dim=-1)
            code = code + (qn - zn.detach()).pow(2).sum(-1).mean()
            commit = commit + (zn - qn.detach()).pow(2).sum(-1).mean()
        recon = (out.recon - out.target).pow(2).sum(-1).mean()
        loss = CODE_WEIGHT * code + COMMIT_WEIGHT * commit + recon
        return {"loss": loss, "code": code, "commit": commit, "recon": recon}

    def loss(self, x: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Training loss on ``(M, D)`` frames: ``(loss, {code, commit, recon, loss})``."""
        parts = self.loss_terms(self.quantize(x))
        return parts["loss"], parts

    @torch.no_grad()
    def _restart_dead(self, counts: torch.Tensor, z_pool: list[torch.Tensor],
                      g: torch.Generator) -> int:
        """Re-seed unused codewords of each step from that step's recent projections."""
        restarted = 0
        for n in range(counts.shape[0]):
            dead = (counts[n] == 0).nonzero().flatten()
            if len(dead) == 0:
                continue
            pool = F.normalize(z_pool[n], dim=-1)
            pick = torch.randint(0, pool.shape[0], (len(dead),), generator=g).to(pool.device)
            # direction from a current projection (what matching uses), magnitude of the live
            # codewords (what the decoder has adapted to), so a restart does not jolt x̂
            live = self.codebooks[n][counts[n] > 0].norm(dim=-1)
            scale = live.median() if len(live) else self.codebooks[n].norm(dim=-1).median()
            self.codebooks[n, dead] = pool[pick] * scale
            restarted += len(dead)
        return restarted

    def fit(self, batches: Iterable[torch.Tensor], steps: int = 2000, lr: float = 1e-3,
            restart_every: int = 10, log_every: int = 100,
            callback=None) -> dict[str, Any]:
        """Train with Adam on ``steps`` batches of ``(M, D)`` frames (``batches`` is iterated).

        Every ``restart_every`` steps (0 = never), codewords unused over that window are
        re-seeded. ``callback(step, parts)`` is called after each step. Returns the loss
        history and the final codebook statistics of the last window's tokens.
        """
        it: Iterator[torch.Tensor] = iter(batches)
        dev = self.codebooks.device
        first = next(it).to(dev, torch.float32)
        self.fit_standardization(first)
        opt = torch.optim.Adam(self.parameters(), lr=lr)
        n, k = self.cfg.num_codebooks, self.cfg.codebook_size
        counts = torch.zeros(n, k, device=dev)
        g = torch.Generator().manual_seed(self.cfg.seed + 1)
        history, restarts, recent = [], 0, []
        t0 = time.monotonic()
        self.train()
        for step in range(steps):
            x = first if step == 0 else next(it).to(dev, torch.float32)
            out = self.quantize(x)
            parts = self.loss_terms(out)
            opt.zero_grad(set_to_none=True)
            parts["loss"].backward()
            opt.step()
            with torch.no_grad():
                for j in range(n):
                    counts[j] += torch.bincount(out.codes[:, j], minlength=k)
                recent = [z.detach() for z in out.z]
            vals = {key: float(v.detach()) for key, v in parts.items()}
            history.append({"step": step + 1, **vals})
            if callback is not None:
                callback(step + 1, vals)
            if restart_every and (step + 1) % restart_every == 0 and step + 1 < steps:
                restarts += self._restart_dead(counts, recent, g)
                counts.zero_()
            if log_every and (step + 1) % log_every == 0:
                log.info("melrvq step %d/%d loss=%.4f recon=%.4f (%.0f s)", step + 1, steps,
                         vals["loss"], vals["recon"], time.monotonic() - t0)
        self.eval()
        return {"fitted": True, "history": history, "restarted_codewords": restarts}


class LatentRVQ(Tokenizer):
    """MuQ_iter tokenizer: Mel-RVQ on hidden state ``layer`` of a frozen trained backbone.

    ``encode`` takes the same stacked mel frames as every tokenizer; the frozen backbone runs
    over each sequence (so tokens carry context) and its layer-``layer`` states are quantized.
    The backbone's weights are stored inside the tokenizer checkpoint (self-contained).
    """

    trainable: ClassVar[bool] = True

    def __init__(self, cfg: TokenizerConfig, stack: int = 4):
        super().__init__(cfg)
        assert cfg.backbone is not None and cfg.layer is not None  # checked by the config
        if not 0 <= cfg.layer <= cfg.backbone.depth:
            raise ValueError(f"TokenizerConfig.layer={cfg.layer} out of range 0..{cfg.backbone.depth}")
        self.backbone = Backbone(cfg.backbone, cfg.in_dim, stack).eval().requires_grad_(False)
        self.rvq = MelRVQ(cfg, in_dim=cfg.backbone.dim)

    def train(self, mode: bool = True) -> LatentRVQ:
        super().train(mode)
        self.backbone.eval()  # frozen: no dropout
        return self

    @torch.no_grad()
    def latents(self, feats: torch.Tensor, pad_mask: torch.Tensor | None = None) -> torch.Tensor:
        """``(B, T, F)`` stacked mel → layer-``layer`` states ``(B, T, D_enc)``."""
        return self.backbone(feats, pad_mask, return_all=True)[self.cfg.layer]

    def encode_sequences(self, feats: torch.Tensor,
                         pad_mask: torch.Tensor | None = None) -> torch.Tensor:
        h = self.latents(feats, pad_mask)
        b, t, d = h.shape
        return self.rvq.codes(h.reshape(b * t, d)).reshape(b, t, -1)

    def fit(self, batches: Iterable[torch.Tensor], **kwargs) -> dict[str, Any]:
        """Fit the RVQ on latents of ``batches`` of ``(B, T, F)`` stacked-mel sequences."""
        dev = self.rvq.codebooks.device

        def frames():
            for x in batches:
                h = self.latents(x.to(dev, torch.float32))
                yield h.reshape(-1, h.shape[-1])

        return self.rvq.fit(frames(), **kwargs)


__all__ = ["COMMIT_WEIGHT", "LatentRVQ", "MelRVQ", "RVQOutput", "codebook_stats"]
