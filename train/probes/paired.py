"""Is encoder A really better than encoder B on a task? A paired bootstrap over test clips.

Two probes scored on the same test clips differ by chance as well as by merit: on a test split
of a few hundred clips, a key score moves by about ±0.03 from the choice of clips alone. The
paired bootstrap (Efron & Tibshirani, 1993; Koehn, 2004 for system comparisons) resamples the
test clips with replacement, recomputes the task's primary metric for both probes on each
resample, and reports the spread of the difference: a 95 % percentile interval and the share
of resamples where A does not beat B. Because both probes see the same resampled clips, the
clip-difficulty noise cancels and only the disagreement between them counts.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np


@dataclass(frozen=True)
class PairedDiff:
    """``metric(A) - metric(B)`` on the same test clips.

    Attributes:
        diff: the difference on the full test split.
        ci_low, ci_high: 95 % percentile interval of the bootstrap differences.
        p_not_better: share of resamples with ``diff <= 0`` (small: A is reliably better).
        n_test: test clips both probes scored.
        n_boot: resamples.
    """

    diff: float
    ci_low: float
    ci_high: float
    p_not_better: float
    n_test: int
    n_boot: int

    def to_dict(self) -> dict[str, float | int]:
        return asdict(self)


def paired_bootstrap(metric: Callable[[np.ndarray, np.ndarray], float], y: np.ndarray,
                     out_a: np.ndarray, out_b: np.ndarray, n_boot: int = 1000, seed: int = 0,
                     level: float = 0.95) -> PairedDiff:
    """Paired bootstrap of ``metric(y, out_a) - metric(y, out_b)``.

    Args:
        metric: ``(y, outputs) -> float`` on any subset of rows (e.g. accuracy of the argmax,
            macro ROC-AUC); higher is better.
        y: ``(N, ...)`` test targets.
        out_a, out_b: ``(N, C)`` probe outputs of the two encoders on the same ``N`` clips.
        n_boot: resamples of the ``N`` clips (with replacement, the same rows for A and B).
        seed: resampling seed (results are reproducible).
        level: coverage of the percentile interval.
    """
    n = len(y)
    if len(out_a) != n or len(out_b) != n:
        raise ValueError(f"paired_bootstrap: {n} targets but {len(out_a)} and {len(out_b)} "
                         "outputs; both probes must score the same test clips")
    if n == 0:
        raise ValueError("paired_bootstrap: no test clips")
    rng = np.random.default_rng(seed)
    diffs = np.empty(n_boot)
    for b in range(n_boot):
        i = rng.integers(0, n, n)
        diffs[b] = metric(y[i], out_a[i]) - metric(y[i], out_b[i])
    diffs = diffs[np.isfinite(diffs)]  # e.g. a resample without positives of any tag
    lo, hi = np.percentile(diffs, [50 * (1 - level), 50 * (1 + level)]) if len(diffs) else (
        np.nan, np.nan)
    return PairedDiff(diff=float(metric(y, out_a) - metric(y, out_b)), ci_low=float(lo),
                      ci_high=float(hi), p_not_better=float(np.mean(diffs <= 0)) if len(diffs)
                      else float("nan"), n_test=n, n_boot=int(len(diffs)))


__all__ = ["PairedDiff", "paired_bootstrap"]
