"""Retrieval and tagging metrics in NumPy (checked against scikit-learn in the tests).

Conventions:

* ``scores (Q, N)``: higher is more relevant; ``relevant (Q, N)`` bool.
* The rank of an item is ``1 + #items scoring strictly higher + #non-relevant items tied with
  it`` — ties count against the query, so a constant scorer gets no credit.
* Average precision follows scikit-learn's step-wise definition
  (``sum_k (R_k - R_{k-1}) P_k`` over distinct score thresholds).
"""

from __future__ import annotations

import numpy as np


def first_relevant_rank(scores: np.ndarray, relevant: np.ndarray) -> np.ndarray:
    """1-based rank of the best-ranked relevant item per query ``(Q,)`` (pessimistic ties)."""
    s = np.asarray(scores, dtype=np.float64)
    r = np.asarray(relevant, dtype=bool)
    if s.shape != r.shape or s.ndim != 2:
        raise ValueError(f"scores and relevant must both be (Q, N), got {s.shape}, {r.shape}")
    if not r.any(1).all():
        raise ValueError("every query needs at least one relevant item")
    best = np.where(r, s, -np.inf).max(1)  # (Q,) score of the best relevant item
    higher = (s > best[:, None]).sum(1)
    tied_neg = ((s == best[:, None]) & ~r).sum(1)
    return 1 + higher + tied_neg


def average_precision(scores: np.ndarray, relevant: np.ndarray) -> np.ndarray:
    """Average precision per query ``(Q,)`` (scikit-learn's definition, ties grouped)."""
    s = np.asarray(scores, dtype=np.float64)
    r = np.asarray(relevant, dtype=bool)
    out = np.zeros(len(s))
    for q in range(len(s)):
        pos = s[q][r[q]]
        if len(pos) == 0:
            out[q] = np.nan
            continue
        # precision at each relevant item's threshold: relevant ≥ t / all ≥ t
        at = (s[q][None, :] >= pos[:, None])
        prec = (at & r[q][None, :]).sum(1) / at.sum(1)
        out[q] = prec.mean()
    return out


def retrieval_metrics(scores: np.ndarray, relevant: np.ndarray,
                      ks: tuple[int, ...] = (1, 5, 10)) -> dict[str, float]:
    """Recall@k (a relevant item in the top k), median rank of the first relevant item,
    mean reciprocal rank and mAP over ``Q`` queries."""
    ranks = first_relevant_rank(scores, relevant)
    out = {f"R@{k}": float((ranks <= k).mean()) for k in ks}
    out["median_rank"] = float(np.median(ranks))
    out["MRR"] = float((1.0 / ranks).mean())
    out["mAP"] = float(np.nanmean(average_precision(scores, relevant)))
    out["queries"] = int(len(ranks))
    out["candidates"] = int(np.asarray(scores).shape[1])
    return out


def roc_auc(y: np.ndarray, s: np.ndarray) -> float:
    """Area under the ROC curve of scores ``s`` for binary labels ``y`` (Mann–Whitney U,
    ties count one half). NaN when ``y`` has a single class."""
    y = np.asarray(y, dtype=bool)
    s = np.asarray(s, dtype=np.float64)
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    order = np.argsort(s, kind="mergesort")
    ranks = np.empty(len(s))
    sorted_s = s[order]
    # average ranks over ties
    _, first, counts = np.unique(sorted_s, return_index=True, return_counts=True)
    avg = first + (counts + 1) / 2.0
    ranks[order] = np.repeat(avg, counts)
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def pr_auc(y: np.ndarray, s: np.ndarray) -> float:
    """Average precision (PR-AUC) of scores ``s`` for labels ``y``; NaN without positives."""
    y = np.asarray(y, dtype=bool)
    if not y.any():
        return float("nan")
    return float(average_precision(np.asarray(s)[None, :], y[None, :])[0])


def tagging_metrics(labels: np.ndarray, scores: np.ndarray, tags: list[str],
                    min_pos: int = 1) -> dict:
    """Per-tag and macro ROC-AUC / PR-AUC for ``labels (N, K)`` and ``scores (N, K)``.

    Only tags with at least ``min_pos`` positives and one negative enter the macro averages.
    """
    y = np.asarray(labels, dtype=bool)
    s = np.asarray(scores, dtype=np.float64)
    if y.shape != s.shape or y.shape[1] != len(tags):
        raise ValueError(f"labels {y.shape} and scores {s.shape} must be (N, {len(tags)})")
    per = {}
    for k, t in enumerate(tags):
        n_pos = int(y[:, k].sum())
        if n_pos < max(1, min_pos) or n_pos == len(y):
            continue
        per[t] = {"roc_auc": roc_auc(y[:, k], s[:, k]), "pr_auc": pr_auc(y[:, k], s[:, k]),
                  "positives": n_pos}
    macro_roc = float(np.mean([v["roc_auc"] for v in per.values()])) if per else float("nan")
    macro_pr = float(np.mean([v["pr_auc"] for v in per.values()])) if per else float("nan")
    return {"roc_auc": macro_roc, "pr_auc": macro_pr, "tags_evaluated": len(per),
            "min_positives": min_pos, "clips": int(len(y)), "per_tag": per}
