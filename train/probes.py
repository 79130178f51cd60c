"""Frozen-encoder linear probes on offline tasks: embeddings once, a regularised linear model.

This is the quick protocol used to check that a trained encoder beats a randomly initialised
one of the same architecture (the Myna issue's acceptance test). The full Castellon/JukeMIR
grid and reports build on these pieces.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from lyrebird.encoders import AudioEncoder, AudioError, get_encoder, load_audio
from lyrebird.encoders.progress import progress

from .melcache import read_clip_table

log = logging.getLogger("lyrebird.train")

PITCH_CLASSES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
_ENHARMONIC = {"Db": "C#", "Eb": "D#", "Gb": "F#", "Ab": "G#", "Bb": "A#", "Cb": "B",
               "Fb": "E", "E#": "F", "B#": "C"}


def parse_key(label: str) -> tuple[int, str]:
    """``"C# major"`` → ``(1, "major")`` (tonic pitch class 0–11, mode)."""
    try:
        tonic, mode = label.strip().split()
    except ValueError:
        raise ValueError(f"key label {label!r}: expected '<tonic> major|minor'") from None
    tonic = _ENHARMONIC.get(tonic, tonic)
    if tonic not in PITCH_CLASSES or mode not in ("major", "minor"):
        raise ValueError(f"key label {label!r}: expected '<tonic> major|minor'")
    return PITCH_CLASSES.index(tonic), mode


def key_score(est: str, ref: str) -> float:
    """MIREX weighted key score of one estimate: 1 same key, 0.5 perfect fifth (same mode,
    estimated tonic a fifth above the reference), 0.3 relative major/minor, 0.2 parallel, else 0.
    """
    et, em = parse_key(est)
    rt, rm = parse_key(ref)
    if (et, em) == (rt, rm):
        return 1.0
    if em == rm and (et - rt) % 12 == 7:
        return 0.5
    if em != rm and ((rm == "major" and (et - rt) % 12 == 9) or (rm == "minor" and (et - rt) % 12 == 3)):
        return 0.3
    if em != rm and et == rt:
        return 0.2
    return 0.0


def embed_table(encoder: AudioEncoder, table: pd.DataFrame, desc: str = "embed") -> tuple[np.ndarray, np.ndarray]:
    """Embeddings ``(N, DIM)`` of each row's ``[start_s, end_s]`` and a mask of rows that worked."""
    out = np.zeros((len(table), encoder.DIM), np.float32)
    ok = np.ones(len(table), bool)
    for i, r in enumerate(progress(list(table.itertuples()), desc=desc)):
        try:
            dur = float(r.end_s) - float(r.start_s) if pd.notna(r.end_s) else None
            wav = load_audio(r.path, encoder.SAMPLE_RATE, offset_s=float(r.start_s), duration_s=dur)
            out[i] = encoder.embed(wav, encoder.SAMPLE_RATE).numpy()
        except AudioError as e:
            log.warning("probe: skipping row %d: %s", i, e)
            ok[i] = False
    return out, ok


def fit_linear_probe(x: dict[str, np.ndarray], y: dict[str, np.ndarray],
                     cs: tuple[float, ...] = (0.01, 0.1, 1.0, 10.0)) -> tuple[np.ndarray, dict]:
    """Standardise, fit logistic regression for each ``C`` on train, keep the best on valid,
    and predict test. Returns ``(test predictions, {"C", "valid_acc"})``."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    sc = StandardScaler().fit(x["train"])
    xs = {k: sc.transform(v) for k, v in x.items()}
    best = None
    for c in cs:
        clf = LogisticRegression(C=c, max_iter=2000).fit(xs["train"], y["train"])
        acc = float((clf.predict(xs["valid"]) == y["valid"]).mean()) if len(y["valid"]) else 0.0
        if best is None or acc > best[0]:
            best = (acc, c, clf)
    acc, c, clf = best
    return clf.predict(xs["test"]), {"C": c, "valid_acc": acc}


def probe_task(encoder: AudioEncoder, manifest: str | os.PathLike) -> dict:
    """Linear probe of ``encoder`` on one classification probe manifest (``label`` column).

    Returns test accuracy, the key weighted score for key tasks, and split sizes.
    """
    table = read_clip_table(manifest)
    with torch.inference_mode():
        emb, ok = embed_table(encoder, table, desc=f"embed {Path(manifest).stem}")
    table, emb = table[ok].reset_index(drop=True), emb[ok]
    x = {s: emb[(table["split"] == s).to_numpy()] for s in ("train", "valid", "test")}
    y = {s: table.loc[table["split"] == s, "label"].astype(str).to_numpy() for s in x}
    empty = [s for s in ("train", "test") if len(y[s]) == 0]
    if empty or len(set(y["train"])) < 2:
        raise ValueError(f"'{manifest}': probe needs train and test rows and >= 2 train classes; "
                         f"got splits {({k: len(v) for k, v in y.items()})}")
    pred, sel = fit_linear_probe(x, y)
    res = {"test_acc": float((pred == y["test"]).mean()), "n": {k: len(v) for k, v in y.items()},
           **sel}
    if Path(manifest).stem == "key":
        res["key_weighted"] = float(np.mean([key_score(p, t) for p, t in zip(pred, y["test"], strict=True)]))
    return res


def compare(encoders: list[str], probes_dir: str | os.PathLike,
            tasks: tuple[str, ...] = ("key", "instrument_family")) -> pd.DataFrame:
    """Probe every encoder (name or checkpoint) on every task; one row per (encoder, task)."""
    rows = []
    for name in encoders:
        enc = get_encoder(name, device="cpu")
        for t in tasks:
            r = probe_task(enc, Path(probes_dir) / f"{t}.parquet")
            rows.append({"encoder": name, "task": t, **{k: v for k, v in r.items() if k != "n"},
                         "n_train": r["n"]["train"], "n_test": r["n"]["test"]})
    return pd.DataFrame(rows)
