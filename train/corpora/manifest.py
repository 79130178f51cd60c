"""The manifest: one table per dataset, one row per clip (parquet primary, CSV accepted).

See ``docs/data.md`` for the schema. :func:`read_manifest` returns a pandas DataFrame whose list
columns hold Python lists (also for CSV, where lists are JSON-encoded), and
:func:`validate_manifest` reports every bad row by row number, clip and field.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from lyrebird.core.atomic import replaced_on_success

from .keys import MODES

SPLITS: tuple[str, ...] = ("train", "valid", "test")


@dataclass(frozen=True)
class Column:
    """One manifest column: its name, type, whether it is required, and what it means."""

    name: str
    kind: str  # "str" | "float" | "int" | "bool" | "list[str]" | "captions"
    required: bool
    doc: str


SCHEMA: tuple[Column, ...] = (
    Column("path", "str", True, "audio file, absolute or relative to the manifest's folder"),
    Column("start_s", "float", True, "clip start in the file, seconds (>= 0)"),
    Column("end_s", "float", True, "clip end in the file, seconds (> start_s)"),
    Column("split", "str", True, "train / valid / test; a work_id never spans two splits"),
    Column("work_id", "str", True, "the musical work the clip comes from"),
    Column("captions", "captions", True,
           "list of {lang, text[, source]}; zero or more (source: see CAPTION_SOURCES)"),
    Column("tags", "list[str]", True, "multi-label tags (MTT top-50 names where true, plus more)"),
    Column("clip_id", "str", False, "unique clip identifier"),
    Column("key", "str", False, "'<tonic> <mode>', e.g. 'D minor' (see key_exact)"),
    Column("tonic", "int", False, "tonic pitch class, 0 = C … 11 = B"),
    Column("mode", "str", False, "major, minor, dorian, phrygian, lydian, mixolydian, locrian"),
    Column("key_exact", "bool", False, "True only when the key is stated by the source or "
                                       "fixed by construction; False for estimates"),
    Column("key_source", "str", False, "where the key comes from ('abc K: field', "
                                       "'construction', 'estimated: …')"),
    Column("key_estimate", "str", False, "Krumhansl–Schmuckler estimate on the clip's notes"),
    Column("tempo_bpm", "float", False, "beats per minute of the metre's beat, as rendered"),
    Column("qpm", "float", False, "quarter notes per minute, as rendered"),
    Column("meter", "str", False, "time signature in force at the clip start, e.g. '6/8'"),
    Column("instrument", "str", False, "the instrument, or the ensemble's name"),
    Column("instrument_family", "str", False, "family of the instrument(s); 'mixed' if several"),
    Column("instruments", "list[str]", False, "every GM instrument heard"),
    Column("ensemble", "str", False, "'solo' (one player) or 'ensemble'"),
    Column("collection", "str", False, "source collection, e.g. 'essen', 'bach_chorales'"),
    Column("composer", "str", False, "composer named by the source ('traditional' for folk)"),
    Column("title", "str", False, "title named by the source"),
    Column("duration_s", "float", False, "length of the whole audio file, seconds"),
)
"""The documented columns. Other columns are allowed and passed through."""

COLUMNS: dict[str, Column] = {c.name: c for c in SCHEMA}
CAPTION_SOURCES = ("file", "teacher", "file+teacher", "template")
"""Where a caption's words came from: the recording's own text, teacher estimates, both, or a
template over construction labels (the demo corpus)."""

LIST_COLUMNS = frozenset(c.name for c in SCHEMA if c.kind in ("list[str]", "captions"))
_METER = re.compile(r"^\d+/\d+$")
_LANG = re.compile(r"^[a-z]{2,3}(-[A-Za-z]{2,4})?$")


class ManifestError(ValueError):
    """A manifest file cannot be read at all (missing, wrong format, unparsable)."""


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a manifest. ``row`` is the 0-based row number (None: whole table)."""

    row: int | None
    field: str
    message: str
    clip: str | None = None  # clip_id or path of the row, to find it

    def __str__(self) -> str:
        where = "table" if self.row is None else f"row {self.row}"
        if self.clip:
            where += f" ({self.clip})"
        return f"{where}: {self.field}: {self.message}"


def _as_list(value: Any) -> Any:
    """Parquet gives numpy arrays for list columns, CSV gives JSON text: make both lists."""
    if isinstance(value, np.ndarray):
        return [_as_list(v) for v in value.tolist()]
    if isinstance(value, list | tuple):
        return [_as_list(v) for v in value]
    if isinstance(value, dict):
        return {k: _as_list(v) for k, v in value.items()}
    return value


def read_manifest(path: str | os.PathLike) -> pd.DataFrame:
    """Read a manifest (``.parquet``, or ``.csv`` with JSON-encoded list columns).

    Raises:
        ManifestError: missing file, unknown extension, or unreadable content.
    """
    p = Path(path)
    if not p.is_file():
        raise ManifestError(f"'{p}': manifest not found")
    suffixes = "".join(p.suffixes[-2:]).lower()
    try:
        if p.suffix.lower() == ".parquet":
            df = pd.read_parquet(p)
        elif ".csv" in suffixes:
            df = pd.read_csv(p, keep_default_na=True)
            for col in df.columns:
                if col in LIST_COLUMNS or df[col].astype(str).str.startswith("[").all():
                    df[col] = [_json_cell(v, col, i, p) for i, v in enumerate(df[col])]
        else:
            raise ManifestError(f"'{p}': expected a .parquet or .csv manifest")
    except ManifestError:
        raise
    except Exception as err:
        raise ManifestError(f"'{p}': cannot read manifest ({type(err).__name__}: {err})") from err
    for col in df.columns:
        if df[col].dtype == object:
            df[col] = [_as_list(v) for v in df[col]]
    return df


def _json_cell(v: Any, col: str, row: int, path: Path) -> Any:
    if isinstance(v, float) and math.isnan(v):
        return None
    if not isinstance(v, str):
        return v
    try:
        return json.loads(v)
    except json.JSONDecodeError:
        return v  # left as text; validate_manifest reports it with its row


def write_manifest(df: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Write ``df`` as parquet (or CSV with JSON list cells, by extension) atomically."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    if p.suffix.lower() not in (".parquet", ".csv"):
        raise ManifestError(f"'{p}': expected a .parquet or .csv file name")
    with replaced_on_success(p) as tmp:
        if p.suffix.lower() == ".parquet":
            df.to_parquet(tmp, index=False)
        else:
            out = df.copy()
            for col in out.columns:
                if out[col].map(lambda v: isinstance(v, list | dict)).any():
                    out[col] = [json.dumps(v, ensure_ascii=False) for v in out[col]]
            out.to_csv(tmp, index=False)
    return p


def resolve_path(manifest: str | os.PathLike, path: str) -> Path:
    """Absolute path of a manifest's ``path`` cell (relative paths are under its folder)."""
    p = Path(path)
    return p if p.is_absolute() else Path(manifest).resolve().parent / p


def _missing(v: Any) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NA


def _check_cell(col: Column, v: Any) -> str | None:
    """Why ``v`` is not a valid value of ``col`` (None when it is)."""
    if col.kind == "str":
        if not isinstance(v, str) or (col.required and not v.strip()):
            return f"expected a non-empty string, got {v!r}"
    elif col.kind in ("float", "int"):
        if isinstance(v, bool) or not isinstance(v, int | float | np.integer | np.floating):
            return f"expected a number, got {v!r}"
        if not math.isfinite(float(v)):
            return f"expected a finite number, got {v!r}"
        if col.kind == "int" and float(v) != int(v):
            return f"expected an integer, got {v!r}"
    elif col.kind == "bool":
        if not isinstance(v, bool | np.bool_):
            return f"expected true/false, got {v!r}"
    elif col.kind == "list[str]":
        if not isinstance(v, list) or not all(isinstance(t, str) and t for t in v):
            return f"expected a list of non-empty strings, got {v!r}"
    elif col.kind == "captions":
        if not isinstance(v, list):
            return f"expected a list of {{lang, text}} objects, got {v!r}"
        for i, c in enumerate(v):
            if not isinstance(c, dict) or set(c) - {"lang", "text", "source"} or not c.get("text"):
                return (f"caption {i} must be {{lang, text}} (optionally with a source) with "
                        f"non-empty text, got {c!r}")
            if "source" in c and c["source"] not in CAPTION_SOURCES:
                return f"caption {i} has source {c['source']!r}; expected one of {CAPTION_SOURCES}"
            if not isinstance(c.get("lang"), str) or not _LANG.match(c["lang"]):
                return f"caption {i} has an invalid language code {c.get('lang')!r}"
            if not isinstance(c["text"], str) or not c["text"].strip():
                return f"caption {i} has empty text"
    return None


def validate_manifest(manifest: pd.DataFrame | str | os.PathLike, *,
                      check_files: bool = False, root: str | os.PathLike | None = None,
                      ) -> list[Problem]:
    """Check a manifest against the schema; returns every problem found (empty list: valid).

    Args:
        manifest: a DataFrame, or a path to read with :func:`read_manifest`.
        check_files: also check that each ``path`` exists (relative to ``root``).
        root: folder relative paths are resolved against (default: the manifest's folder,
            or the current directory for a DataFrame).

    Checks: required columns; types of every documented column; ``start_s >= 0`` and
    ``end_s > start_s``; split names; no work in two splits; unique ``clip_id``; key
    consistency (``key_exact`` rows need a key and may not have an estimated ``key_source``).
    """
    if not isinstance(manifest, pd.DataFrame):
        root = root if root is not None else Path(manifest).resolve().parent
        df = read_manifest(manifest)
    else:
        df = manifest
    base = Path(root) if root is not None else Path.cwd()
    problems: list[Problem] = []
    missing = [c.name for c in SCHEMA if c.required and c.name not in df.columns]
    problems += [Problem(None, m, "required column is missing") for m in missing]
    if len(df) == 0:
        problems.append(Problem(None, "rows", "manifest has no rows"))
    cols = [c for c in SCHEMA if c.name in df.columns]
    records = df.to_dict("records")
    for i, rec in enumerate(records):
        clip = rec.get("clip_id") if isinstance(rec.get("clip_id"), str) else (
            rec.get("path") if isinstance(rec.get("path"), str) else None)

        def bad(field: str, msg: str, i: int = i, clip: str | None = clip) -> None:
            problems.append(Problem(i, field, msg, clip))

        for col in cols:
            v = _as_list(rec[col.name])
            if _missing(v):
                if col.required:
                    bad(col.name, "value is missing")
                continue
            why = _check_cell(col, v)
            if why:
                bad(col.name, why)
        s, e = rec.get("start_s"), rec.get("end_s")
        if isinstance(s, int | float) and not _missing(s) and s < 0:
            bad("start_s", f"must be >= 0 seconds, got {s}")
        if all(isinstance(x, int | float) and not _missing(x) for x in (s, e)) and e <= s:
            bad("end_s", f"must be greater than start_s ({s}), got {e}")
        split = rec.get("split")
        if isinstance(split, str) and split not in SPLITS:
            bad("split", f"must be one of {', '.join(SPLITS)}, got {split!r}")
        mode = rec.get("mode")
        if isinstance(mode, str) and mode not in MODES:
            bad("mode", f"unknown mode {mode!r}; expected one of {', '.join(MODES)}")
        meter = rec.get("meter")
        if isinstance(meter, str) and not _METER.match(meter):
            bad("meter", f"expected a time signature like '3/4', got {meter!r}")
        tempo = rec.get("tempo_bpm")
        if isinstance(tempo, int | float) and not _missing(tempo) and tempo <= 0:
            bad("tempo_bpm", f"must be > 0, got {tempo}")
        if rec.get("key_exact") is True or rec.get("key_exact") is np.True_:
            if _missing(rec.get("key")):
                bad("key_exact", "is true but the key is missing")
            src = rec.get("key_source")
            if isinstance(src, str) and src.lower().startswith("estimat"):
                bad("key_exact", f"is true but key_source says the key is estimated ({src!r})")
        if check_files and isinstance(rec.get("path"), str) and rec["path"]:
            p = Path(rec["path"])
            p = p if p.is_absolute() else base / p
            if not p.is_file():
                bad("path", f"file not found: {p}")
    problems += _cross_row(records)
    return problems


def _cross_row(records: list[dict[str, Any]]) -> list[Problem]:
    """Problems between rows: works in several splits, duplicate clip ids and clips."""
    out: list[Problem] = []
    work_splits: dict[str, dict[str, int]] = {}
    for i, rec in enumerate(records):
        w, s = rec.get("work_id"), rec.get("split")
        if isinstance(w, str) and isinstance(s, str):
            work_splits.setdefault(w, {}).setdefault(s, i)
    for w, splits in work_splits.items():
        if len(splits) > 1:
            first = min(splits.values())
            for s, i in splits.items():
                if i != first:
                    out.append(Problem(i, "split", f"work_id {w!r} is in {s!r} here but in "
                                       f"{records[first].get('split')!r} at row {first}",
                                       records[i].get("clip_id")))
    for field, key in (("clip_id", lambda r: r.get("clip_id")),
                       ("path", lambda r: (r.get("path"), r.get("start_s"), r.get("end_s")))):
        seen: dict[Any, int] = {}
        for i, rec in enumerate(records):
            k = key(rec)
            if k is None or (isinstance(k, tuple) and k[0] is None) or _missing(k):
                continue
            try:
                hash(k)
            except TypeError:
                continue
            if k in seen:
                what = "clip_id" if field == "clip_id" else "clip (path, start_s, end_s)"
                out.append(Problem(i, field, f"duplicate {what}; first at row {seen[k]}",
                                   rec.get("clip_id")))
            else:
                seen[k] = i
    return out


def format_problems(problems: Iterable[Problem], limit: int = 50) -> str:
    """Human-readable list of problems (at most ``limit`` lines plus a count of the rest)."""
    probs = list(problems)
    lines = [str(p) for p in probs[:limit]]
    if len(probs) > limit:
        lines.append(f"… and {len(probs) - limit} more")
    return "\n".join(lines)


def require_rows(rows: list, skipped: list[dict], what: str, show: int = 3) -> list:
    """``rows``, or a ``ValueError`` naming the first reasons when every item of a build
    failed (instead of a pandas error about missing columns of an empty table)."""
    if rows:
        return rows
    reasons = "; ".join(f"{s.get('source', '?')}: {s.get('reason', '?')}" for s in skipped[:show])
    raise ValueError(f"{what}: every item failed ({len(skipped)} skipped), so there is nothing "
                     f"to write; first reasons: {reasons or 'none recorded'}")
