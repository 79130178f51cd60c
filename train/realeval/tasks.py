"""The five tasks of the real-music evaluation, each on the vectors of every compared model.

Each task returns ``{"metric", "target", "results": {model: value}, "compare": {baseline:
paired-bootstrap dict of model − baseline}, "note", ...}``; the first model is the one under
test, the others are baselines.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from lyrebird.mulan.vocabulary import DEFAULT_TEMPLATE, mtt_top50
from lyrebird.train.realeval.embed import Vectors
from lyrebird.train.realeval.metrics import (
    compare,
    compare_auc,
    identification,
    macro_auc,
    neighbour_precision,
    precision_at_k,
    roc_auc_per_tag,
    tag_matrix,
)
from lyrebird.train.realeval.models import ModelSpec
from lyrebird.train.realeval.queries import GENRE_QUERIES, LANGS, track_labels
from lyrebird.train.teachers.annotate import parse_teacher_probs

TARGETS = {"genre_zeroshot": 0.85, "genre_queries": 0.8, "same_package": 0.8,
           "excerpt_id": 0.95}
"""The targets of the issue "Search that works on real music"."""


def _mean(x: np.ndarray) -> float:
    x = np.asarray(x, np.float64)
    return float(np.nanmean(x)) if np.isfinite(x).any() else float("nan")


def _text_scores(spec: ModelSpec, v: Vectors, texts: Sequence[str]) -> np.ndarray:
    """``(N, Q)`` scores of the tracks for each text: the model's own ``text_scores`` when it
    has one (the teacher-keyword peer), else the cosine of track and text vectors."""
    own = getattr(spec.model, "text_scores", None)
    if own is not None:
        return np.asarray(own(v.track, list(texts)), np.float64)
    t = np.asarray(spec.model.embed_text(list(texts)), np.float64)
    t /= np.maximum(np.linalg.norm(t, axis=1, keepdims=True), 1e-12)
    a = v.track / np.maximum(np.linalg.norm(v.track, axis=1, keepdims=True), 1e-12)
    return a @ t.T


def genuine_tags(rows: Sequence[dict]) -> list[frozenset[str]]:
    """The ``tags`` column of each row, lower-cased (the files' own genre/instrument words)."""
    return [frozenset(str(t).strip().lower() for t in (r.get("tags") if r.get("tags") is not None
                                                         else []) if str(t).strip())
            for r in rows]


def teacher_probs(rows: Sequence[dict], teacher: str) -> list[dict[str, float]] | None:
    """``{tag: p}`` of ``teacher`` per row, or ``None`` when the column is absent/empty."""
    out = [parse_teacher_probs(r.get("teacher_probs")).get(teacher, {}) for r in rows]
    return out if any(out) else None


def _audio(specs: list[ModelSpec], vecs: list[Vectors]
           ) -> tuple[list[ModelSpec], list[Vectors]]:
    """The models (and their vectors) that enter the audio tasks."""
    keep = [i for i, s in enumerate(specs) if s.audio_tasks]
    return [specs[i] for i in keep], [vecs[i] for i in keep]


def genre_zeroshot(rows, specs: list[ModelSpec], vecs: list[Vectors], min_pos: int = 3,
                   teacher: str = "MTT_musicnn", n_boot: int = 1000) -> dict[str, Any]:
    """Macro ROC-AUC of prompt scores ("A {} track") over the genuine tags (≥ min_pos each)."""
    tags, y = tag_matrix(genuine_tags(rows), min_pos, min_pos)
    res: dict[str, Any] = {"metric": "macro ROC-AUC", "target": TARGETS["genre_zeroshot"],
                           "tags": tags, "positives": y.sum(axis=0).tolist(), "results": {},
                           "per_tag": {}, "compare": {}, "n_tracks": len(rows),
                           "n_queries": len(tags)}
    if not tags:
        res["note"] = f"no tag has >= {min_pos} positives and negatives on this split"
        return res
    prompts = [DEFAULT_TEMPLATE.format(t) for t in tags]
    scores = {s.name: _text_scores(s, v, prompts) for s, v in zip(specs, vecs, strict=True)
              if s.has_text}
    for name, sc in scores.items():
        res["results"][name] = macro_auc(y, sc)
        res["per_tag"][name] = dict(zip(tags, roc_auc_per_tag(y, sc).tolist(), strict=True))
    main = specs[0].name
    for name, sc in scores.items():
        if name != main:
            res["compare"][name] = compare_auc(y, scores[main], sc, n_boot)
    probs = teacher_probs(rows, teacher)
    shared = [i for i, t in enumerate(tags) if t in set(mtt_top50())]
    if probs is not None and shared:
        ts = np.array([[p.get(tags[i], np.nan) for i in shared] for p in probs])
        ok = np.isfinite(ts).all(axis=1)
        ys, ms = y[ok][:, shared], scores[main][ok][:, shared]
        res["teacher"] = {"name": f"teacher {teacher}", "tags": [tags[i] for i in shared],
                          "teacher": macro_auc(ys, ts[ok]), "model": macro_auc(ys, ms),
                          "compare": compare_auc(ys, ms, ts[ok], n_boot)}
    res["note"] = (f"tags with >= {min_pos} positives and >= {min_pos} negatives; audio-only "
                   "baselines have no text side")
    return res


def genre_queries(rows, specs: list[ModelSpec], vecs: list[Vectors], k: int = 10,
                  n_boot: int = 1000, min_rel: int = 5) -> dict[str, Any]:
    """P@k' (k' = min(k, relevant tracks)) of the genre queries in each language; a query
    counts only when the split holds at least ``min_rel`` relevant tracks. ``by_lang`` and
    ``by_query`` break each model's mean down by language and by query (its languages' mean)."""
    labels = [track_labels(r) for r in rows]
    rel = np.array([[bool(q.targets & lab) for lab in labels] for q in GENRE_QUERIES], bool)
    rel = rel.reshape(len(GENRE_QUERIES), len(rows))
    used = [i for i in range(len(GENRE_QUERIES)) if rel[i].sum() >= max(1, min_rel)]
    res: dict[str, Any] = {"metric": f"P@min({k}, relevant)", "target": TARGETS["genre_queries"],
                           "queries": {GENRE_QUERIES[i].key: int(rel[i].sum()) for i in used},
                           "too_few": {q.key: int(rel[i].sum())
                                       for i, q in enumerate(GENRE_QUERIES)
                                       if 0 < rel[i].sum() < min_rel},
                           "results": {}, "by_lang": {}, "by_query": {}, "compare": {},
                           "n_tracks": len(rows),
                           "n_queries": len(used) * len(LANGS)}
    if not used:
        res["note"] = f"no query has >= {min_rel} relevant tracks on this split"
        return res
    per: dict[str, np.ndarray] = {}
    for s, v in zip(specs, vecs, strict=True):
        if not s.has_text:
            continue
        rows_p = []
        for lang in LANGS:
            texts = [GENRE_QUERIES[i].texts[lang] for i in used]
            rows_p.append(precision_at_k(_text_scores(s, v, texts).T, rel[used], k))
        per[s.name] = np.concatenate(rows_p)
        res["results"][s.name] = _mean(per[s.name])
        res["by_lang"][s.name] = {lang: _mean(p) for lang, p in zip(LANGS, rows_p, strict=True)}
        res["by_query"][s.name] = {GENRE_QUERIES[i].key: _mean(np.array([p[j] for p in rows_p]))
                                   for j, i in enumerate(used)}
    main = specs[0].name
    for name, p in per.items():
        if name != main:
            res["compare"][name] = compare(per[main], p, n_boot)
    res["note"] = (f"{len(used)} queries x {len(LANGS)} languages, each with >= {min_rel} "
                   "relevant tracks; a track is relevant when its genuine tags/genre meet the "
                   "query's targets; k' = min(k, relevant) because few queries have 10 "
                   "relevant tracks on a small split")
    return res


def similar_tracks(rows, specs: list[ModelSpec], vecs: list[Vectors], by: str, k: int = 5,
                   n_boot: int = 1000) -> dict[str, Any]:
    """Same-``by`` P@k' of each track's nearest tracks (cosine of track vectors); models
    whose spec has ``audio_tasks`` false are left out."""
    specs, vecs = _audio(specs, vecs)
    groups = [str(r.get(by)) for r in rows]
    per = {s.name: neighbour_precision(v.track, groups, k)
           for s, v in zip(specs, vecs, strict=True)}
    main = specs[0].name
    n = int(np.isfinite(per[main]).sum())
    return {"metric": f"P@min({k}, same-{by} tracks)", "n_tracks": len(rows), "n_queries": n,
            "target": TARGETS["same_package"] if by == "package" else None,
            "results": {name: _mean(p) for name, p in per.items()},
            "compare": {name: compare(per[main], p, n_boot) for name, p in per.items()
                        if name != main},
            "note": f"{n} tracks that share their {by} with another track; itself excluded"}


def excerpt_id(specs: list[ModelSpec], vecs: list[Vectors], n_boot: int = 1000
               ) -> dict[str, Any]:
    """Top-1 of each track's degraded excerpt among all tracks (best segment per track)."""
    specs, vecs = _audio(specs, vecs)
    per = {}
    for s, v in zip(specs, vecs, strict=True):
        top1, _ = identification(v.query, v.seg, v.seg_track, np.arange(len(v.track)))
        per[s.name] = top1.astype(np.float64)
    main = specs[0].name
    n = len(vecs[0].track) if vecs else 0
    return {"metric": "top-1", "target": TARGETS["excerpt_id"], "n_tracks": n, "n_queries": n,
            "results": {name: _mean(p) for name, p in per.items()},
            "compare": {name: compare(per[main], p, n_boot) for name, p in per.items()
                        if name != main}}


def teacher_agreement(rows, specs: list[ModelSpec], vecs: list[Vectors],
                      teacher: str = "MTT_musicnn", threshold: float = 0.5, min_pos: int = 3,
                      n_boot: int = 1000) -> dict[str, Any]:
    """Macro ROC-AUC of zero-shot MTT-tag scores against the teacher's tags (p >= threshold).

    Agreement with a teacher, not ground truth; skipped when ``teacher_probs`` is absent.
    """
    res: dict[str, Any] = {"metric": "macro ROC-AUC vs teacher tags (agreement)",
                           "target": None, "results": {}, "compare": {}}
    probs = teacher_probs(rows, teacher)
    if probs is None:
        res["skipped"] = True
        res["note"] = f"skipped: no teacher_probs for {teacher} (run 'lyrebird teach' first)"
        return res
    sets = [frozenset(t for t, p in d.items() if p >= threshold) for d in probs]
    tags, y = tag_matrix(sets, min_pos, min_pos, vocab=list(mtt_top50()))
    ok = np.array([bool(d) for d in probs])
    if not tags:
        res["skipped"] = True
        res["note"] = f"skipped: no teacher tag has >= {min_pos} positives and negatives"
        return res
    prompts = [DEFAULT_TEMPLATE.format(t) for t in tags]
    scores = {s.name: _text_scores(s, v, prompts)[ok] for s, v in zip(specs, vecs, strict=True)
              if s.has_text}
    for name, sc in scores.items():
        res["results"][name] = macro_auc(y[ok], sc)
    main = specs[0].name
    for name, sc in scores.items():
        if name != main:
            res["compare"][name] = compare_auc(y[ok], scores[main], sc, n_boot)
    res["tags"] = tags
    res["n_tracks"], res["n_queries"] = int(ok.sum()), len(tags)
    res["note"] = (f"agreement with {teacher} (p >= {threshold} as positive), not ground truth; "
                   f"{len(tags)} MTT tags, {int(ok.sum())} tracks with teacher output")
    return res


__all__ = ["TARGETS", "excerpt_id", "genre_queries", "genre_zeroshot", "genuine_tags",
           "similar_tracks", "teacher_agreement", "teacher_probs"]
