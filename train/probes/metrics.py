"""Probe metrics, vectorised over many probe configurations at once.

Every function takes plain arrays; the batched forms (leading ``G`` axis, one entry per probe
configuration) are what the grid uses to pick the best configuration on the validation split.
Each is tested against an independent implementation (scikit-learn, mir_eval).

* accuracy and the MIREX weighted key score (via :func:`lyrebird.train.corpora.keys.key_score`);
* macro ROC-AUC (Mann–Whitney with average ranks for ties) and macro average precision
  (step-wise, thresholds at distinct scores, as scikit-learn), over the classes that have at
  least one positive and one negative example;
* the coefficient of determination R².
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.stats import rankdata

from ..corpora.keys import key_score


def accuracy(pred: np.ndarray, y: np.ndarray) -> float:
    """Fraction of ``pred == y`` over ``(N,)`` labels."""
    pred, y = np.asarray(pred), np.asarray(y)
    return float((pred == y).mean()) if len(y) else float("nan")


def key_score_matrix(classes: Sequence[str]) -> np.ndarray:
    """``S[i, j]`` = weighted score of estimating ``classes[i]`` when the truth is ``classes[j]``.

    ``(C, C)`` float64; entries come from :func:`~lyrebird.train.corpora.keys.key_score`.
    """
    return np.array([[key_score(e, r) for r in classes] for e in classes], dtype=np.float64)


def key_weighted(pred: Sequence[str], ref: Sequence[str]) -> float:
    """Mean MIREX weighted key score (1 / 0.5 fifth / 0.3 relative / 0.2 parallel / 0)."""
    if len(ref) == 0:
        return float("nan")
    return float(np.mean([key_score(p, r) for p, r in zip(pred, ref, strict=True)]))


def _valid_columns(y: np.ndarray) -> np.ndarray:
    pos = y.sum(axis=0)
    return (pos > 0) & (pos < y.shape[0])


def roc_auc_batched(y: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Macro ROC-AUC of ``scores`` ``(G, N, C)`` against binary ``y`` ``(N, C)`` → ``(G,)``.

    Classes with no positive or no negative example are left out; NaN when none is left.
    """
    y = np.asarray(y).astype(bool)
    s = np.asarray(scores, dtype=np.float64)
    keep = _valid_columns(y)
    if not keep.any():
        return np.full(s.shape[0], np.nan)
    y, s = y[:, keep], s[:, :, keep]
    ranks = rankdata(s, axis=1)  # average ranks for ties (Mann–Whitney U)
    n_pos = y.sum(axis=0)
    n_neg = y.shape[0] - n_pos
    rank_pos = (ranks * y[None]).sum(axis=1)  # (G, C)
    auc = (rank_pos - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg)
    return auc.mean(axis=1)


def roc_auc_macro(y: np.ndarray, scores: np.ndarray) -> float:
    """Macro ROC-AUC of ``scores`` ``(N, C)`` against binary ``y`` ``(N, C)``."""
    return float(roc_auc_batched(y, np.asarray(scores)[None])[0])


def average_precision_macro(y: np.ndarray, scores: np.ndarray) -> float:
    """Macro average precision of ``scores`` ``(N, C)`` against binary ``y`` ``(N, C)``.

    Per class: ``sum_n (R_n - R_{n-1}) P_n`` over thresholds at the distinct scores, highest
    first (ties enter together), which is scikit-learn's definition.
    """
    y = np.asarray(y).astype(bool)
    s = np.asarray(scores, dtype=np.float64)
    keep = _valid_columns(y)
    if not keep.any():
        return float("nan")
    aps = []
    for c in np.flatnonzero(keep):
        order = np.argsort(-s[:, c], kind="mergesort")
        sc, yc = s[order, c], y[order, c]
        last = np.r_[np.flatnonzero(np.diff(sc)), len(sc) - 1]  # end of each tie block
        tp = np.cumsum(yc)[last]
        prec = tp / (last + 1)
        rec = tp / yc.sum()
        aps.append(float(np.sum(np.diff(np.r_[0.0, rec]) * prec)))
    return float(np.mean(aps))


def r2_batched(y: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """R² of predictions ``(G, N)`` against targets ``(N,)`` → ``(G,)``."""
    y = np.asarray(y, dtype=np.float64)
    p = np.asarray(pred, dtype=np.float64)
    ss_res = ((p - y[None]) ** 2).sum(axis=1)
    ss_tot = ((y - y.mean()) ** 2).sum()
    return 1.0 - ss_res / ss_tot if ss_tot > 0 else np.full(p.shape[0], np.nan)


def r2(y: np.ndarray, pred: np.ndarray) -> float:
    """Coefficient of determination of ``pred`` ``(N,)`` against ``y`` ``(N,)``."""
    return float(r2_batched(y, np.asarray(pred)[None])[0])


def one_hot(y: np.ndarray, n_classes: int) -> np.ndarray:
    """``(N,)`` class indices → ``(N, n_classes)`` bool."""
    out = np.zeros((len(y), n_classes), dtype=bool)
    out[np.arange(len(y)), np.asarray(y, dtype=np.int64)] = True
    return out
