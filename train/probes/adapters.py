"""Real benchmarks as probe tasks, read from a local copy in the dataset's own on-disk layout.

Nothing is downloaded. Each adapter takes the dataset's root directory and returns
:class:`~lyrebird.train.probes.tasks.Task` objects; clips listed in the metadata but missing on
disk are left out (counted in ``Task.dropped``), and a directory with no usable clip raises
:class:`~lyrebird.train.probes.tasks.TaskError` naming the file it looked for.

==========  ===============================================================================
``mtt``     MagnaTagATune top-50 tagging. ``DIR/annotations_final.csv`` (tab-separated, the
            188 tag columns and ``mp3_path``) and the audio under ``DIR`` or ``DIR/mp3``; the
            standard split lists (jongpillee/music_dataset_split) ship with the package.
``gtzan``   Genre, fault-filtered split (Kereliuk et al. 2015). Audio ``DIR/genres/<genre>/
            <genre>.000NN.wav`` (or ``genres_original/``, or ``<genre>/`` directly) and the
            split lists ``train_filtered.txt``, ``valid_filtered.txt``, ``test_filtered.txt``
            (the dnn-mgr repository of Kereliuk et al.) in ``DIR`` or ``DIR/splits``.
``giantsteps``  Key. Test: ``DIR/giantsteps-key-dataset`` (``audio/<id>.LOFI.mp3``,
            ``annotations/key/<id>.LOFI.key``); train/valid: ``DIR/giantsteps-mtg-key-dataset``
            (``annotations/annotations.txt``: ID, MANUAL KEY, C(onfidence); only confident,
            single-key tracks; 10 % of them for validation).
``emomusic``  Arousal and valence regression. ``DIR/clips_45seconds/<song_id>.mp3`` and
            ``DIR/annotations/static_annotations.csv``, ``songs_info.csv`` (MediaEval 2013 set:
            ``evaluation`` → test; ``development`` → train, 1/8 of it valid).
``nsynth``  Instrument family and pitch. ``DIR/nsynth-{train,valid,test}/examples.json`` and
            ``audio/<note>.wav``; the official splits.
``vocalset``  Singer (20) and technique (10). ``DIR/FULL/<singer>/<context>/<technique>/*.wav``;
            technique is split by the dataset's ``test_singers_technique.txt``; singer by file.
==========  ===============================================================================
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from lyrebird.core.fingerprint import stable_hash
from lyrebird.mulan.vocabulary import mtt_split_lists, mtt_top50

from .tasks import Task, TaskError, task_from_table

log = logging.getLogger("lyrebird.train")
AUDIO_EXT = (".wav", ".mp3", ".flac", ".ogg", ".au")


def _need(path: Path, what: str) -> Path:
    if not path.exists():
        raise TaskError(f"probe benchmark: '{path}' not found ({what})")
    return path


def _hashed_split(key: str, valid_frac: float, test_frac: float = 0.0, seed: str = "") -> str:
    u = (stable_hash(seed, key) % 10_000) / 10_000
    return "test" if u < test_frac else "valid" if u < test_frac + valid_frac else "train"


def _make(rows: list[dict], name: str, kind: str, source: Path, missing: list[str]) -> Task:
    if not rows:
        raise TaskError(f"probe benchmark {name}: no audio found under '{source}'"
                        + (f" (e.g. {missing[0]} is missing)" if missing else ""))
    task = task_from_table(pd.DataFrame(rows), name, kind, source=str(source))  # type: ignore[arg-type]
    task.dropped = [f"{m}: audio file missing" for m in missing] + task.dropped
    if missing:
        log.warning("probe benchmark %s: %d listed clip(s) missing on disk, e.g. %s", name,
                    len(missing), missing[0])
    return task


def _row(path: Path, split: str, **labels) -> dict:
    return {"path": str(path), "start_s": 0.0, "end_s": np.nan, "split": split, **labels}


# --------------------------------------------------------------------------- MagnaTagATune
def mtt(root: Path) -> list[Task]:
    """MagnaTagATune top-50 (multi-label) on the standard split."""
    from lyrebird.mulan.evaluate import find_mtt_audio

    ann = _need(root / "annotations_final.csv", "MTT annotations, tab-separated")
    df = pd.read_csv(ann, sep="\t")
    tags = list(mtt_top50())
    absent = [c for c in ["mp3_path", *tags] if c not in df.columns]
    if absent:
        raise TaskError(f"probe benchmark mtt: '{ann}' lacks column(s) {absent[:5]}")
    by_path = df.set_index("mp3_path")
    rows, missing = [], []
    for split, paths in mtt_split_lists().items():
        for rel in paths:
            audio = find_mtt_audio(root, rel)
            if audio is None or rel not in by_path.index:
                missing.append(rel)
                continue
            r = by_path.loc[rel]
            rows.append(_row(audio, split, labels=[t for t in tags if int(r[t]) > 0]))
    return [_make(rows, "mtt", "multilabel", root, missing)]


# --------------------------------------------------------------------------- GTZAN
def gtzan(root: Path) -> list[Task]:
    """GTZAN genre classification on the fault-filtered split."""
    lists = {}
    for split, fname in (("train", "train_filtered.txt"), ("valid", "valid_filtered.txt"),
                         ("test", "test_filtered.txt")):
        cands = [root / fname, root / "splits" / fname]
        f = next((c for c in cands if c.is_file()), None)
        if f is None:
            raise TaskError(f"probe benchmark gtzan: '{cands[0]}' not found (the fault-filtered "
                            "split lists from the dnn-mgr repository of Kereliuk et al., gtzan/*_filtered.txt)")
        lists[split] = [ln.strip() for ln in f.read_text().splitlines() if ln.strip()]
    audio = {p.stem: p for base in (root / "genres", root / "genres_original", root)
             if base.is_dir() for p in base.glob("*/*") if p.suffix.lower() in AUDIO_EXT}
    rows, missing = [], []
    for split, items in lists.items():
        for item in items:
            stem = Path(item).stem
            if stem not in audio:
                missing.append(item)
                continue
            rows.append(_row(audio[stem], split, label=stem.split(".")[0]))
    return [_make(rows, "gtzan", "multiclass", root, missing)]


# --------------------------------------------------------------------------- GiantSteps
def _find_audio(folder: Path, stem: str) -> Path | None:
    for ext in AUDIO_EXT:
        p = folder / f"{stem}{ext}"
        if p.is_file():
            return p
    return None


def giantsteps(root: Path) -> list[Task]:
    """Key: trained on GiantSteps-MTG (confident single keys), tested on GiantSteps key."""
    test_dir = _need(root / "giantsteps-key-dataset", "GiantSteps key test set")
    mtg_dir = _need(root / "giantsteps-mtg-key-dataset", "GiantSteps-MTG key training set")
    rows, missing = [], []
    for kf in sorted((test_dir / "annotations" / "key").glob("*.key")):
        label = kf.read_text().strip()
        audio = _find_audio(test_dir / "audio", kf.name[: -len(".key")])
        if audio is None:
            missing.append(kf.name)
        elif re.fullmatch(r"[A-G][#b]? (major|minor)", label):
            rows.append(_row(audio, "test", label=label))
    ann = _need(mtg_dir / "annotations" / "annotations.txt", "GiantSteps-MTG annotations")
    table = pd.read_csv(ann, sep="\t", dtype=str)
    if table.shape[1] < 2:
        raise TaskError(f"probe benchmark giantsteps: '{ann}' needs ID and MANUAL KEY columns")
    conf = table.iloc[:, 2] if table.shape[1] > 2 else pd.Series(["2"] * len(table))
    for tid, label, c in zip(table.iloc[:, 0], table.iloc[:, 1], conf, strict=True):
        label = str(label).strip()
        if str(c).strip() != "2" or not re.fullmatch(r"[A-G][#b]? (major|minor)", label):
            continue  # ambiguous, multiple or unsure keys are left out
        audio = _find_audio(mtg_dir / "audio", f"{str(tid).strip()}.LOFI")
        if audio is None:
            missing.append(f"{tid}.LOFI.mp3")
            continue
        rows.append(_row(audio, _hashed_split(str(tid), 0.1, seed="gs-mtg"), label=label))
    return [_make(rows, "giantsteps_key", "key", root, missing)]


# --------------------------------------------------------------------------- EmoMusic
def emomusic(root: Path) -> list[Task]:
    """Static arousal and valence (regression, R²)."""
    ann = _need(root / "annotations" / "static_annotations.csv", "EmoMusic static annotations")
    info = _need(root / "annotations" / "songs_info.csv", "EmoMusic song info")
    a = pd.read_csv(ann, skipinitialspace=True)
    i = pd.read_csv(info, skipinitialspace=True)
    a.columns, i.columns = [c.strip() for c in a.columns], [c.strip() for c in i.columns]
    for f, df, cols in ((ann, a, ("song_id", "mean_arousal", "mean_valence")),
                        (info, i, ("song_id", "Mediaeval 2013 set"))):
        absent = [c for c in cols if c not in df.columns]
        if absent:
            raise TaskError(f"probe benchmark emomusic: '{f}' lacks column(s) {absent}")
    sets = dict(zip(i["song_id"].astype(int), i["Mediaeval 2013 set"].astype(str).str.strip(),
                    strict=True))
    out = []
    for dim in ("arousal", "valence"):
        rows, missing = [], []
        for sid, val in zip(a["song_id"].astype(int), a[f"mean_{dim}"], strict=True):
            audio = _find_audio(root / "clips_45seconds", str(sid))
            if audio is None:
                missing.append(f"clips_45seconds/{sid}.mp3")
                continue
            split = ("test" if sets.get(sid) == "evaluation" else
                     _hashed_split(str(sid), 0.125, seed="emomusic"))
            rows.append(_row(audio, split, label=float(val)))
        out.append(_make(rows, f"emomusic_{dim}", "regression", root, missing))
    return out


# --------------------------------------------------------------------------- NSynth
def nsynth(root: Path) -> list[Task]:
    """Instrument family (11) and pitch (MIDI 21–108) on the official splits."""
    inst, pitch, missing = [], [], []
    for split in ("train", "valid", "test"):
        d = _need(root / f"nsynth-{split}", f"NSynth {split} split folder")
        meta = json.loads(_need(d / "examples.json", "NSynth metadata").read_text())
        for note, m in sorted(meta.items()):
            audio = d / "audio" / f"{note}.wav"
            if not audio.is_file():
                missing.append(f"nsynth-{split}/audio/{note}.wav")
                continue
            inst.append(_row(audio, split, label=str(m["instrument_family_str"])))
            if 21 <= int(m["pitch"]) <= 108:
                pitch.append(_row(audio, split, label=str(int(m["pitch"]))))
    return [_make(inst, "nsynth_instrument", "multiclass", root, missing),
            _make(pitch, "nsynth_pitch", "multiclass", root, missing)]


# --------------------------------------------------------------------------- VocalSet
TECHNIQUES = ("belt", "breathy", "inhaled", "lip_trill", "spoken", "straight", "trill", "trillo",
              "vibrato", "vocal_fry")


def vocalset(root: Path) -> list[Task]:
    """Singer identification (split by file) and technique (split by singer)."""
    full = next((p for p in (root / "FULL", root / "data_by_singer", root) if p.is_dir()
                 and any(p.glob("[fm]*/*/*/*.wav"))), None)
    if full is None:
        raise TaskError(f"probe benchmark vocalset: no '{root / 'FULL'}/<singer>/<context>/"
                        "<technique>/*.wav' files")
    test_list = _need(root / "test_singers_technique.txt", "VocalSet technique test singers")
    test_singers = set(re.findall(r"[fm]\d+", test_list.read_text()))
    singer, tech = [], []
    for wav in sorted(full.glob("[fm]*/*/*/*.wav")):
        who, technique = wav.parts[-4], wav.parts[-2]
        singer.append(_row(wav, _hashed_split(wav.name, 0.1, 0.1, seed="vocalset"), label=who))
        if technique in TECHNIQUES:
            split = ("test" if who in test_singers else
                     _hashed_split(wav.name, 0.125, seed="vocalset-tech"))
            tech.append(_row(wav, split, label=technique))
    return [_make(singer, "vocalset_singer", "multiclass", root, []),
            _make(tech, "vocalset_technique", "multiclass", root, [])]


ADAPTERS: dict[str, Callable[[Path], list[Task]]] = {
    "mtt": mtt, "gtzan": gtzan, "giantsteps": giantsteps, "emomusic": emomusic,
    "nsynth": nsynth, "vocalset": vocalset}
"""Benchmark name → adapter (``lyrebird probe --benchmark NAME=DIR``)."""
