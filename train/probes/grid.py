"""The probe grid, trained many configurations at a time on cached features.

The Castellon et al. (JukeMIR) grid: input standardisation on/off × linear or one hidden
layer of 512 (ReLU) × batch 64/256 × lr 1e-5/1e-4/1e-3 × dropout .25/.5/.75 × L2 0/1e-4/1e-3 =
216 configurations. Each is trained with Adam (L2 added to the gradient, as ``torch.optim.Adam``
``weight_decay``), dropout on the probe's input (and hidden layer), and early stopping on the
validation metric (patience in epochs); the best-on-validation configuration, at its best
epoch, is scored once on test. :data:`MARBLE` is the fast single-configuration option
(standardised, MLP 512, batch 64, lr 1e-3, dropout 0.25, no L2), also used per layer.

Speed: configurations that share standardisation, architecture and batch size (27 of them)
train as one batched model — weights ``(G, D, H)``, ``torch.baddbmm`` — over the same
minibatches, with a vectorised Adam holding a learning rate and L2 per configuration.
Configurations that stop early leave the batch, so the remaining work shrinks. On top of
early stopping, ``halving`` applies successive halving (Jamieson & Talwalkar, 2016; the
Hyperband bracket 27 → 9 → 3 → 1 with η = 3) inside each group: after epochs 4, 8 and 16 only
the best third (by best validation score so far) of the still-running configurations go on; the
others stop, and their best checkpoints stay candidates. Every one of the 216 configurations is
trained and validated; the hopeless ones just stop sooner, which makes a full grid several times
cheaper. ``halving=()`` gives the exhaustive schedule.
"""

from __future__ import annotations

import itertools
import math
import time
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from lyrebird.core.device import cpu_bf16_native

from .metrics import key_score_matrix, r2_batched, roc_auc_batched
from .options import MAX_EPOCHS, PATIENCE


@dataclass(frozen=True)
class ProbeConfig:
    """One probe: ``hidden`` 0 = linear."""

    standardize: bool
    hidden: int
    batch_size: int
    lr: float
    dropout: float
    l2: float


@dataclass(frozen=True)
class GridSpec:
    """A grid of probe configurations and the early-stopping schedule."""

    standardize: tuple[bool, ...] = (False, True)
    hidden: tuple[int, ...] = (0, 512)
    batch_size: tuple[int, ...] = (64, 256)
    lr: tuple[float, ...] = (1e-5, 1e-4, 1e-3)
    dropout: tuple[float, ...] = (0.25, 0.5, 0.75)
    l2: tuple[float, ...] = (0.0, 1e-4, 1e-3)
    max_epochs: int = MAX_EPOCHS
    patience: int = PATIENCE
    seed: int = 0
    halving: tuple[int, ...] = (4, 8, 16)
    eta: int = 3
    # bf16 matrix products under autocast where the CPU has native bf16 (about 3× faster),
    # with fp32 weights and Adam
    bf16: bool = field(default_factory=cpu_bf16_native)

    def configs(self) -> list[ProbeConfig]:
        """Every configuration, in a fixed order."""
        return [ProbeConfig(*c) for c in itertools.product(
            self.standardize, self.hidden, self.batch_size, self.lr, self.dropout, self.l2)]


FULL = GridSpec()
MARBLE = GridSpec(standardize=(True,), hidden=(512,), batch_size=(64,), lr=(1e-3,),
                  dropout=(0.25,), l2=(0.0,))


@dataclass
class GridResult:
    """Outcome of a grid on one feature set.

    Attributes:
        best: the configuration chosen on validation.
        valid: its validation score (the task's primary metric).
        best_epoch: epochs trained when it scored best (1-based).
        test_out: ``(N_test, C)`` test outputs of the best probe (logits; regression: values in
            target units).
        valid_scores: validation score of every configuration, in ``GridSpec.configs()`` order.
        seconds: training wall time.
    """

    best: ProbeConfig
    valid: float
    best_epoch: int
    test_out: np.ndarray
    valid_scores: list[float]
    seconds: float

    def to_dict(self) -> dict:
        return {"best": asdict(self.best), "valid": self.valid, "best_epoch": self.best_epoch,
                "n_configs": len(self.valid_scores), "seconds": self.seconds}


def validation_scorer(kind: str, y_valid: np.ndarray, classes: tuple[str, ...] = ()):
    """A function ``(G, N, C) outputs → (G,)`` scores of the task's primary metric (higher is
    better) on the validation targets."""
    if kind == "multiclass":
        return lambda out: (out.argmax(-1) == y_valid[None]).mean(axis=1)
    if kind == "key":
        s = key_score_matrix(classes)
        return lambda out: s[out.argmax(-1), y_valid[None]].mean(axis=1)
    if kind == "multilabel":
        return lambda out: roc_auc_batched(y_valid, out)
    if kind == "regression":
        return lambda out: r2_batched(y_valid, out[..., 0])
    raise ValueError(f"unknown task kind {kind!r}")


class _Group:
    """``G`` probes of one architecture trained together (weights ``(G, in, out)``)."""

    def __init__(self, d_in: int, hidden: int, n_out: int, cfgs: list[ProbeConfig],
                 gen: torch.Generator):
        g = len(cfgs)
        dims = [d_in, hidden, n_out] if hidden else [d_in, n_out]
        self.params: list[torch.Tensor] = []
        for a, b in itertools.pairwise(dims):
            bound = 1.0 / math.sqrt(a)  # nn.Linear's default initialisation
            self.params.append((torch.rand(g, a, b, generator=gen) * 2 - 1) * bound)
            self.params.append((torch.rand(g, 1, b, generator=gen) * 2 - 1) * bound)
        self.m = [torch.zeros_like(p) for p in self.params]
        self.v = [torch.zeros_like(p) for p in self.params]
        self.lr = torch.tensor([c.lr for c in cfgs]).view(g, 1, 1)
        self.l2 = torch.tensor([c.l2 for c in cfgs]).view(g, 1, 1)
        self.keep = torch.tensor([1.0 - c.dropout for c in cfgs]).view(g, 1, 1)
        self.step_n = 0

    def select(self, idx: torch.Tensor) -> None:
        """Keep only configurations ``idx`` (positions in the current group)."""
        self.params = [p[idx] for p in self.params]
        self.m, self.v = [m[idx] for m in self.m], [v[idx] for v in self.v]
        self.lr, self.l2, self.keep = self.lr[idx], self.l2[idx], self.keep[idx]

    def forward(self, x: torch.Tensor, params: list[torch.Tensor], train: bool,
                gen: torch.Generator | None = None) -> torch.Tensor:
        """``(B, D)`` (or ``(G, B, D)``) → ``(G, B, n_out)``."""
        h = x.expand(params[0].shape[0], *x.shape[-2:]) if x.dim() == 2 else x
        for i in range(0, len(params), 2):
            if i:
                h = torch.relu(h)
            if train:
                h = h * (torch.rand(h.shape, generator=gen) < self.keep) / self.keep
            h = torch.baddbmm(params[i + 1], h, params[i])
        return h

    def adam_step(self, grads: list[torch.Tensor], b1: float = 0.9, b2: float = 0.999,
                  eps: float = 1e-8) -> None:
        self.step_n += 1
        c1, c2 = 1 - b1**self.step_n, 1 - b2**self.step_n
        for p, g, m, v in zip(self.params, grads, self.m, self.v, strict=True):
            g = g + self.l2 * p
            m.mul_(b1).add_(g, alpha=1 - b1)
            v.mul_(b2).addcmul_(g, g, value=1 - b2)
            p.sub_(self.lr * (m / c1) / ((v / c2).sqrt() + eps))


def _loss(out: torch.Tensor, y: torch.Tensor, kind: str) -> torch.Tensor:
    """Sum over configurations of each one's mean loss (so gradients stay independent)."""
    g = out.shape[0]
    if kind in ("multiclass", "key"):
        return F.cross_entropy(out.reshape(-1, out.shape[-1]), y.repeat(g), reduction="sum") / len(y)
    if kind == "multilabel":
        return F.binary_cross_entropy_with_logits(out, y.expand_as(out), reduction="sum") / (
            y.shape[0] * y.shape[1])
    return F.mse_loss(out[..., 0], y.expand(g, -1), reduction="sum") / len(y)


def _outputs(group: _Group, params: list[torch.Tensor], x: torch.Tensor, chunk: int = 2048
             ) -> np.ndarray:
    with torch.no_grad():
        return torch.cat([group.forward(x[i:i + chunk], params, train=False)
                          for i in range(0, len(x), chunk)], dim=1).numpy()


def run_grid(x: dict[str, np.ndarray], y: dict[str, np.ndarray], kind: str,
             classes: tuple[str, ...] = (), spec: GridSpec = FULL) -> GridResult:
    """Train every configuration of ``spec`` on ``x["train"]`` ``(N, D)``, select on
    ``x["valid"]`` (the train split stands in when there is none), score the winner on
    ``x["test"]``.

    ``y``: ``(N,)`` int class indices (``multiclass``/``key``), ``(N, C)`` bool tags
    (``multilabel``) or ``(N,)`` float (``regression``).
    """
    t0 = time.perf_counter()
    if len(x.get("valid", ())) == 0:
        x, y = {**x, "valid": x["train"]}, {**y, "valid": y["train"]}
    n_out = (len(classes) if kind in ("multiclass", "key") else
             y["train"].shape[1] if kind == "multilabel" else 1)
    y_mu, y_sd = 0.0, 1.0
    if kind == "regression":  # train on standardised targets, predict in target units
        y_mu, y_sd = float(y["train"].mean()), float(y["train"].std() or 1.0)
    ytr = (torch.from_numpy(y["train"]).long() if kind in ("multiclass", "key") else
           torch.from_numpy((y["train"] - y_mu) / y_sd).float() if kind == "regression" else
           torch.from_numpy(y["train"]).float())
    scorer = validation_scorer(kind, y["valid"], classes)
    mu = x["train"].mean(0, keepdims=True)
    sd = x["train"].std(0, keepdims=True) + 1e-6
    cfgs = spec.configs()
    scores = np.full(len(cfgs), -np.inf)
    best_ep = np.zeros(len(cfgs), dtype=int)
    best_params: dict[int, list[torch.Tensor]] = {}
    groups: dict[tuple, list[int]] = {}
    for i, c in enumerate(cfgs):
        groups.setdefault((c.standardize, c.hidden, c.batch_size), []).append(i)
    gen = torch.Generator().manual_seed(spec.seed)
    for (std, hidden, bs), ids in groups.items():
        xs = {s: torch.from_numpy(((v - mu) / sd) if std else v).float() for s, v in x.items()}
        grp = _Group(xs["train"].shape[1], hidden, n_out, [cfgs[i] for i in ids], gen)
        active = torch.tensor(ids)
        best = [p.clone() for p in grp.params]  # best params per config of the group
        pos = {cid: k for k, cid in enumerate(ids)}
        since = np.zeros(len(ids), dtype=int)
        n = len(ytr)
        for epoch in range(1, spec.max_epochs + 1):
            perm = torch.randperm(n, generator=gen)
            for b in range(0, n, bs):
                j = perm[b:b + bs]
                params = [p.requires_grad_(True) for p in grp.params]
                with torch.autocast("cpu", dtype=torch.bfloat16, enabled=spec.bf16):
                    out = grp.forward(xs["train"][j], params, True, gen)
                loss = _loss(out.float(), ytr[j], kind)
                grads = torch.autograd.grad(loss, params)
                grp.params = [p.detach() for p in params]
                with torch.no_grad():
                    grp.adam_step(list(grads))
            out = _outputs(grp, grp.params, xs["valid"])
            if kind == "regression":
                out = out * y_sd + y_mu
            sc = np.nan_to_num(scorer(out), nan=-np.inf)
            k = np.array([pos[int(c)] for c in active])
            improved = sc > scores[active.numpy()]
            for a, cid in enumerate(active.tolist()):
                if improved[a]:
                    scores[cid], best_ep[cid] = sc[a], epoch
                    for bp, p in zip(best, grp.params, strict=True):
                        bp[k[a]] = p[a]
            since[k] = np.where(improved, 0, since[k] + 1)
            alive = since[k] < spec.patience
            if epoch in spec.halving and alive.sum() > 1:  # successive halving
                best_now = scores[active.numpy()]
                n_keep = -(-int(alive.sum()) // spec.eta)
                cut = np.sort(best_now[alive])[::-1][n_keep - 1]
                alive &= best_now >= cut
            if not alive.any():
                break
            if not alive.all():
                sel = torch.from_numpy(np.flatnonzero(alive))
                grp.select(sel)
                active = active[sel]
        for cid in ids:
            best_params[cid] = [p[pos[cid]:pos[cid] + 1] for p in best]
    win = int(np.argmax(scores))  # first of equal scores wins
    c = cfgs[win]
    xt = torch.from_numpy(((x["test"] - mu) / sd) if c.standardize else x["test"]).float()
    grp = _Group(xt.shape[1], c.hidden, n_out, [c], gen)
    test_out = _outputs(grp, best_params[win], xt)[0]
    if kind == "regression":
        test_out = test_out * y_sd + y_mu
    return GridResult(c, float(scores[win]), int(best_ep[win]), test_out,
                      [float(s) for s in scores], time.perf_counter() - t0)
