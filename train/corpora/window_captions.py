"""A manifest of captioned windows for MuLan (issue #25, part 4: the contrastive space on windows).

``lyrebird teach MANIFEST --windows`` labels every ≈3 s window of the train split with the
teachers (:mod:`lyrebird.train.teachers.windows`). This module turns those labels into training
rows for ``lyrebird train mulan``: each train track is cut into back-to-back windows of
``window_s`` (10 s, MuLan's audio window), and each window becomes a manifest row of its own
(``start_s`` / ``end_s`` inside the track) with

* ``teacher_probs``: the mean of the teachers' probabilities over the label windows that start
  inside it (the cell format of ``lyrebird teach``, so the auxiliary teacher loss reads it);
* ``teacher_tags``: the tags at or above ``threshold`` for any teacher;
* ``captions``: :func:`lyrebird.train.corpora.real_captions.clip_captions` of that row, i.e. the
  window's own teacher caption, the file's own text and both, in en/de/fr/es.

A window needs at least ``min_labels`` label windows (a track's short tail is dropped). Every
other column is the track's (``work_id`` too, so the trainer never uses two windows of one
package as each other's negatives). Rows of the other splits are kept as they are, captioned
from their own text only (the test split never gets teacher words). Only the clean copy
(copy 0) of each track is used.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from lyrebird.train.teachers import TEACHERS
from lyrebird.train.teachers.annotate import teacher_tags
from lyrebird.train.teachers.windows import read_shard

from .manifest import read_manifest, write_manifest
from .real_captions import clip_captions


def window_rows(row: dict[str, Any], meta: dict[str, Any], arrays: dict[str, np.ndarray],
                window_s: float = 10.0, threshold: float = 0.3, min_labels: int = 2
                ) -> list[dict[str, Any]]:
    """The captioned window rows of one track: ``row`` (its manifest row), ``meta`` and
    ``arrays`` (its label shard: ``starts_s (n,)`` in seconds from the track's ``start_s``,
    ``<teacher>/probs (n, tags)``)."""
    starts = np.asarray(arrays["starts_s"], np.float64)
    label_s = float(meta["window_s"])
    teachers = [t for t in meta["teachers"] if f"{t}/probs" in arrays]
    t0 = float(meta.get("start_s") or 0.0)
    out = []
    for k in range(int(np.ceil((starts[-1] + 1e-6) / window_s)) if len(starts) else 0):
        pick = (starts >= k * window_s) & (starts < (k + 1) * window_s)
        if pick.sum() < min_labels:
            continue
        probs = {t: {tag: round(float(v), 3) for tag, v in zip(
            TEACHERS[t]["tags"], arrays[f"{t}/probs"][pick].astype(np.float32).mean(0),
            strict=True)} for t in teachers}
        cell = json.dumps(probs, ensure_ascii=False)
        r = dict(row)
        r["start_s"] = t0 + k * window_s
        # at most window_s: the trainer cuts a longer row into a second, mostly padded window
        r["end_s"] = t0 + min(float(starts[pick][-1]) + label_s, (k + 1) * window_s)
        r["clip_id"] = f"{row.get('clip_id')}@{k}"
        r["teacher_probs"], r["teacher_tags"] = cell, teacher_tags(cell, threshold)
        r["captions"] = clip_captions(r)
        out.append(r)
    return out


def window_manifest(manifest: str | os.PathLike, windows: str | os.PathLike,
                    out: str | os.PathLike, window_s: float = 10.0, threshold: float = 0.3,
                    min_labels: int = 2) -> dict[str, int]:
    """Write the window manifest of ``manifest`` from the labels under ``windows`` (the
    ``--windows`` output folder, with its ``index.parquet``) to ``out``. Returns counts:
    tracks and windows used, train tracks without labels, captions per source."""
    manifest, windows = Path(manifest), Path(windows)
    df = read_manifest(manifest)
    index_file = windows / "index.parquet"
    if not index_file.is_file():
        raise FileNotFoundError(f"'{index_file}': no window labels index; run 'lyrebird teach "
                                f"{manifest} --windows --out {windows}' first")
    index = pd.read_parquet(index_file)
    shard = {int(r.row): windows / r.shard for r in index.itertuples() if int(r.copy) == 0}
    rows: list[dict[str, Any]] = []
    counts = {"tracks": 0, "windows": 0, "unlabelled": 0}
    for i, r in zip(df.index, df.to_dict("records"), strict=True):
        if r.get("split") != "train":
            r = dict(r)
            r["captions"] = clip_captions(r)
            rows.append(r)
            continue
        path = shard.get(int(i))
        if path is None or not path.is_file():
            counts["unlabelled"] += 1
            continue
        meta, arrays = read_shard(path)
        if str(meta["path"]) != str(r["path"]):
            raise ValueError(f"'{path}': labels of {meta['path']!r}, but manifest row {i} is "
                             f"{r['path']!r}; label with the same manifest")
        new = window_rows(r, meta, arrays, window_s, threshold, min_labels)
        counts["tracks"] += 1
        counts["windows"] += len(new)
        rows += new
    for r in rows:
        for c in r["captions"]:
            counts[c["source"]] = counts.get(c["source"], 0) + 1
    write_manifest(pd.DataFrame(rows), Path(out))
    return counts


__all__ = ["window_manifest", "window_rows"]
