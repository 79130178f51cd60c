"""Summaries of a manifest: clip counts per split, collection, instrument and tag, and for
real-recording corpora hours per split, package, genre, licence and label source."""

from __future__ import annotations

import os
from collections import Counter
from typing import Any

import pandas as pd

from .manifest import read_manifest


def _counts(values) -> dict[str, int]:
    c = Counter(v for v in values if v is not None and not (isinstance(v, float) and v != v))
    return {str(k): int(n) for k, n in c.most_common()}


def summarize(manifest: pd.DataFrame | str | os.PathLike) -> dict[str, Any]:
    """Counts of a manifest: clips, works, hours, and clips per split / collection /
    instrument / instrument family / tag / caption language, plus exact-key share."""
    df = manifest if isinstance(manifest, pd.DataFrame) else read_manifest(manifest)
    out: dict[str, Any] = {
        "clips": len(df),
        "works": int(df["work_id"].nunique()) if "work_id" in df else None,
        "hours": round(float((df["end_s"] - df["start_s"]).sum()) / 3600, 3),
        "per_split": _counts(df["split"]) if "split" in df else {},
    }
    if "split" in df and "work_id" in df:
        out["works_per_split"] = {s: int(g["work_id"].nunique()) for s, g in df.groupby("split")}
    for col, key in (("collection", "per_collection"), ("instrument", "per_instrument"),
                     ("instrument_family", "per_instrument_family"),
                     ("ensemble", "per_ensemble"), ("style", "per_style"),
                     ("dynamics", "per_dynamics")):
        if col in df:
            out[key] = _counts(df[col])
    if "instruments" in df:
        out["per_gm_instrument"] = _counts(i for lst in df["instruments"] for i in (lst or []))
    if "tags" in df:
        out["per_tag"] = _counts(t for lst in df["tags"] for t in (lst or []))
    if "captions" in df:
        out["caption_languages"] = _counts(c.get("lang") for lst in df["captions"]
                                           for c in (lst or []))
        out["captions"] = int(sum(len(lst or []) for lst in df["captions"]))
    if "key_exact" in df:
        exact = df["key_exact"].fillna(False).astype(bool)
        out["key_exact_clips"] = int(exact.sum())
        out["key_estimated_clips"] = int((~exact & df["key"].notna()).sum())
    _hours_tables(df, out)
    if "tempo_bpm" in df and df["tempo_bpm"].notna().any():
        t = df["tempo_bpm"].dropna()
        out["tempo_bpm"] = {"min": round(float(t.min()), 1), "median": round(float(t.median()), 1),
                            "max": round(float(t.max()), 1)}
    return out


_LABELS = ("title", "artist", "album", "genre", "composer")


def _hours(df: pd.DataFrame, col: str, dur: pd.Series, fold: bool = False
           ) -> dict[str, float]:
    keys = df[col].astype(object).where(df[col].notna(), "(none)").astype(str)
    if fold:
        keys = keys.str.lower()
    h = dur.groupby(keys).sum().sort_values(ascending=False) / 3600
    return {str(k): round(float(v), 3) for k, v in h.items()}


def _hours_tables(df: pd.DataFrame, out: dict[str, Any]) -> None:
    """Hours per split / package / genre / licence / label source (real-recording corpora)."""
    dur = df["end_s"] - df["start_s"]
    if "split" in df:
        out["hours_per_split"] = _hours(df, "split", dur)
    for col in ("package", "genre", "licence"):
        if col in df:
            out[f"hours_per_{col}"] = _hours(df, col, dur, fold=col == "genre")
    if "is_loop" in df:
        flagged = df["is_loop"].fillna(False).astype(bool)
        out["hours_flagged_loop"] = round(float(dur[flagged].sum()) / 3600, 3)
        if "flag_reason" in df:
            kind = df["flag_reason"].where(flagged).dropna().str.split(":").str[0]
            out["flagged_per_reason"] = _counts(kind)
    sources = {c: f"{c}_source" for c in _LABELS if f"{c}_source" in df}
    if sources:
        out["hours_per_label_source"] = {c: _hours(df, s, dur) for c, s in sources.items()}


def _table(lines: list[str], title: str, d: dict | None, top: int, fmt: str) -> None:
    """Append ``title:`` and the first ``top`` rows of ``d`` (values formatted by ``fmt``)."""
    if not d:
        return
    lines.append(f"\n{title}:")
    width = max(len(k) for k in list(d)[:top])
    for k, v in list(d.items())[:top]:
        lines.append(f"  {k:<{width}}  {v:{fmt}}")
    if len(d) > top:
        lines.append(f"  … {len(d) - top} more")


def format_summary(s: dict[str, Any], top: int = 25) -> str:
    """The summary as aligned text tables (the ``top`` most frequent entries of each)."""
    lines = [f"clips: {s['clips']}   works: {s.get('works')}   hours: {s['hours']}"]
    if "key_exact_clips" in s:
        lines.append(f"keys: {s['key_exact_clips']} exact, {s['key_estimated_clips']} estimated")
    if "tempo_bpm" in s:
        t = s["tempo_bpm"]
        lines.append(f"tempo (bpm): min {t['min']}, median {t['median']}, max {t['max']}")
    if "captions" in s:
        langs = ", ".join(f"{k} {v}" for k, v in s["caption_languages"].items())
        lines.append(f"captions: {s['captions']} ({langs})")
    for key, title in (("per_split", "split"), ("works_per_split", "works per split"),
                       ("per_collection", "collection"), ("per_instrument", "instrument"),
                       ("per_instrument_family", "instrument family"),
                       ("per_ensemble", "solo/ensemble"), ("per_tag", "tag")):
        _table(lines, title, s.get(key), top, ">6")
    if "hours_flagged_loop" in s:
        lines.append(f"\nflagged as loop/ambience: {s['hours_flagged_loop']} h "
                     f"{s.get('flagged_per_reason', {})}")
    tables = [(k, f"hours per {k[len('hours_per_'):]}") for k in
              ("hours_per_split", "hours_per_package", "hours_per_genre", "hours_per_licence")]
    tables += [(("hours_per_label_source", lab), f"hours per {lab} source")
               for lab in s.get("hours_per_label_source", {})]
    for key, title in tables:
        d = (s.get(key) if isinstance(key, str)
             else s.get(key[0], {}).get(key[1]))
        _table(lines, title, d, top, ">8.2f")
    return "\n".join(lines)
