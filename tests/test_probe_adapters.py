"""Benchmark adapters on tiny fixtures in each dataset's real on-disk layout and metadata
formats (audio generated here; nothing downloaded)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf

from lyrebird.mulan.vocabulary import mtt_split_lists, mtt_top50
from lyrebird.train.probes.adapters import ADAPTERS
from lyrebird.train.probes.tasks import TaskError

SR = 16000


def _audio(path, hz: float = 440.0, seconds: float = 0.3):
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(SR * seconds)) / SR
    fmt = "MP3" if path.suffix == ".mp3" else None
    sf.write(path, (0.2 * np.sin(2 * np.pi * hz * t)).astype(np.float32), SR, format=fmt)
    return path


def _splits(tasks):
    return {t.name: {s: int((t.table["split"] == s).sum()) for s in ("train", "valid", "test")}
            for t in tasks}


def test_mtt_uses_the_shipped_split_and_annotations_final(tmp_path):
    lists = mtt_split_lists()
    assert [len(lists[s]) for s in ("train", "valid", "test")] == [15244, 1529, 4332]
    picks = {s: lists[s][:2] for s in lists}
    tags = list(mtt_top50())
    extra = ["no singer", "choral"] if "choral" not in tags else ["no singer"]
    header = ["clip_id", *tags, *extra, "mp3_path"]
    lines = ["\t".join(f'"{h}"' for h in header)]
    for i, rel in enumerate([p for s in ("train", "valid", "test") for p in picks[s]]):
        vals = ["0"] * (len(tags) + len(extra))
        vals[i % 50] = "1"
        lines.append("\t".join([f'"{i}"', *[f'"{v}"' for v in vals], f'"{rel}"']))
        _audio(tmp_path / "mp3" / rel)
    (tmp_path / "annotations_final.csv").write_text("\n".join(lines) + "\n")
    (task,) = ADAPTERS["mtt"](tmp_path)
    assert task.kind == "multilabel" and _splits([task])["mtt"] == {"train": 2, "valid": 2, "test": 2}
    first = task.table["path"].tolist().index(str(tmp_path / "mp3" / picks["train"][0]))
    assert task.y[first].sum() == 1 and task.classes[int(task.y[first].argmax())] == tags[0]
    assert len(task.dropped) == sum(len(v) for v in lists.values()) - 6  # listed, not on disk
    (tmp_path / "annotations_final.csv").write_text('"clip_id"\t"mp3_path"\n')
    with pytest.raises(TaskError, match=r"annotations_final\.csv.*lacks column"):
        ADAPTERS["mtt"](tmp_path)


def test_gtzan_fault_filtered_split(tmp_path):
    genres = ["blues", "jazz", "rock"]
    split = {"train": [], "valid": [], "test": []}
    for g in genres:
        for k, s in enumerate(["train", "train", "valid", "test"]):
            _audio(tmp_path / "genres" / g / f"{g}.0000{k}.wav")
            split[s].append(f"{g}/{g}.0000{k}.wav")
    _audio(tmp_path / "genres" / "jazz" / "jazz.00054.wav")  # faulty: in no list
    with pytest.raises(TaskError, match=r"train_filtered\.txt.*dnn-mgr"):
        ADAPTERS["gtzan"](tmp_path)
    for s, items in split.items():
        (tmp_path / f"{s}_filtered.txt").write_text("\n".join(items) + "\n")
    (task,) = ADAPTERS["gtzan"](tmp_path)
    assert task.classes == tuple(genres)
    assert _splits([task])["gtzan"] == {"train": 6, "valid": 3, "test": 3}
    assert not task.table["path"].str.contains("00054").any()


def test_giantsteps_key_and_mtg_training_set(tmp_path):
    test = tmp_path / "giantsteps-key-dataset"
    for i, key in enumerate(["Eb minor", "D major", "A minor"]):
        _audio(test / "audio" / f"{i}.LOFI.mp3")
        (test / "annotations" / "key").mkdir(parents=True, exist_ok=True)
        (test / "annotations" / "key" / f"{i}.LOFI.key").write_text(key)
    mtg = tmp_path / "giantsteps-mtg-key-dataset"
    rows = ["ID\tMANUAL KEY\tC\tSOURCE"]
    for i in range(40):
        key = ["C major", "D# minor", "Bb major", "A minor"][i % 4]
        conf = "2" if i % 10 else "1"  # unsure annotations are left out
        rows.append(f"{1000 + i}\t{key}\t{conf}\tbeatport")
        _audio(mtg / "audio" / f"{1000 + i}.LOFI.mp3")
    rows.append("2000\tC major / A minor\t2\tbeatport")  # multiple keys: left out
    (mtg / "annotations").mkdir(parents=True)
    (mtg / "annotations" / "annotations.txt").write_text("\n".join(rows) + "\n")
    (task,) = ADAPTERS["giantsteps"](tmp_path)
    sp = _splits([task])["giantsteps_key"]
    assert task.kind == "key" and sp["test"] == 3 and sp["train"] + sp["valid"] == 36
    assert "Eb minor" in task.classes and "D# minor" not in task.classes  # canonical PC_NAMES spelling
    assert len(task.classes) == 24  # a test key missing from train is still scored


def test_emomusic_static_arousal_valence(tmp_path):
    ann = ["song_id, mean_arousal, std_arousal, mean_valence, std_valence"]
    info = ['song_id,file_name,Artist,Song title,start of the segment (min.sec),'
            'end of the segment (min.sec),Genre,Mediaeval 2013 set']
    for sid in range(2, 34):
        _audio(tmp_path / "clips_45seconds" / f"{sid}.mp3")
        ann.append(f"{sid}, {3 + sid % 5}.2, 0.9, {4 + sid % 3}.1, 1.1")
        info.append(f'{sid},{sid}.mp3,A,B,0.0,0.45,Rock,'
                    f'{"evaluation" if sid % 4 == 0 else "development"}')
    (tmp_path / "annotations").mkdir()
    (tmp_path / "annotations" / "static_annotations.csv").write_text("\n".join(ann) + "\n")
    (tmp_path / "annotations" / "songs_info.csv").write_text("\n".join(info) + "\n")
    tasks = ADAPTERS["emomusic"](tmp_path)
    assert [t.name for t in tasks] == ["emomusic_arousal", "emomusic_valence"]
    assert all(t.kind == "regression" for t in tasks)
    assert _splits(tasks)["emomusic_arousal"]["test"] == 8
    assert tasks[0].y.min() >= 3.2 and tasks[1].y.max() <= 6.1


def test_nsynth_official_splits(tmp_path):
    fams = ["bass", "guitar", "keyboard"]
    for split in ("train", "valid", "test"):
        meta = {}
        for i in range(6):
            fam, pitch = fams[i % 3], 40 + i
            note = f"{fam}_acoustic_000-0{pitch}-100"
            meta[note] = {"note_str": note, "pitch": pitch, "instrument_family_str": fam,
                          "instrument_family": i % 3, "velocity": 100}
            _audio(tmp_path / f"nsynth-{split}" / "audio" / f"{note}.wav")
        (tmp_path / f"nsynth-{split}" / "examples.json").write_text(json.dumps(meta))
    inst, pitch = ADAPTERS["nsynth"](tmp_path)
    assert inst.classes == tuple(fams) and _splits([inst])["nsynth_instrument"]["valid"] == 6
    assert pitch.name == "nsynth_pitch" and len(pitch.classes) == 6


def test_vocalset_singer_and_technique(tmp_path):
    singers = ["f1", "f2", "m1", "m3"]
    for s in singers:
        for tech in ("belt", "vibrato", "fast_forte"):
            for v in "aeiou":
                _audio(tmp_path / "FULL" / s / "arpeggios" / tech / f"{s}_arpeggios_{tech}_{v}.wav")
    with pytest.raises(TaskError, match=r"test_singers_technique\.txt"):
        ADAPTERS["vocalset"](tmp_path)
    (tmp_path / "test_singers_technique.txt").write_text("f2\nm3\n")
    singer, tech = ADAPTERS["vocalset"](tmp_path)
    assert singer.classes == tuple(singers)
    assert tech.classes == ("belt", "vibrato")  # only the 10 paper techniques
    test_paths = tech.table.loc[tech.table["split"] == "test", "path"]
    assert test_paths.str.contains("/f2/|/m3/").all() and len(test_paths) == 20


def test_missing_dataset_names_what_is_missing(tmp_path):
    with pytest.raises(TaskError, match=r"annotations_final\.csv"):
        ADAPTERS["mtt"](tmp_path)
    with pytest.raises(TaskError, match=r"nsynth-train"):
        ADAPTERS["nsynth"](tmp_path)
    with pytest.raises(TaskError, match=r"static_annotations\.csv"):
        ADAPTERS["emomusic"](tmp_path)
    with pytest.raises(TaskError, match=r"giantsteps-key-dataset"):
        ADAPTERS["giantsteps"](tmp_path)
