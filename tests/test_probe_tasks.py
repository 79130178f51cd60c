"""Probe tasks, hand-crafted features and the feature cache: real behaviour and bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from lyrebird.train.probes.cache import ClipMemo, task_features
from lyrebird.train.probes.features import HandcraftedExtractor
from lyrebird.train.probes.tasks import (
    TaskError,
    drop_seen_test_works,
    load_task,
    seen_works,
    task_from_table,
)

SR = 16000


def _tone(path, hz: float, seconds: float = 1.0):
    t = np.arange(int(SR * seconds)) / SR
    sf.write(path, (0.3 * np.sin(2 * np.pi * hz * t)).astype(np.float32), SR)
    return str(path)


def _table(tmp_path, n=12, labels=None):
    rows = []
    for i in range(n):
        p = _tone(tmp_path / f"t{i}.wav", 220.0 * (1 + i % 3))
        rows.append({"path": p, "start_s": 0.0, "end_s": 1.0,
                     "split": ("train", "train", "valid", "test")[i % 4],
                     "label": (labels or ["a", "b", "c"])[i % 3]})
    return pd.DataFrame(rows)


def test_bad_manifests_name_the_file_and_field(tmp_path):
    with pytest.raises(TaskError, match=r"nope\.parquet.*no such manifest"):
        load_task(tmp_path / "nope.parquet")
    df = _table(tmp_path)
    df.drop(columns="split").to_csv(tmp_path / "a.csv", index=False)
    with pytest.raises(TaskError, match=r"a\.csv.*missing column.*'split'"):
        load_task(tmp_path / "a.csv")
    bad = df.assign(split=["train", "validation"] * 6)
    with pytest.raises(TaskError, match=r"field 'split'.*bad rows \[1, 3"):
        task_from_table(bad, "x", source="m.parquet")
    with pytest.raises(TaskError, match=r"m\.parquet.*field 'label', row 0.*'H major'"):
        task_from_table(df.assign(label="H major"), "key", source="m.parquet")
    with pytest.raises(TaskError, match="train and test"):
        task_from_table(df.assign(split="train"), "x")
    with pytest.raises(TaskError, match="field 'labels'"):
        task_from_table(df.assign(labels="rock"), "tagging")
    (tmp_path / "c.parquet").write_bytes(b"not parquet")
    with pytest.raises(TaskError, match=r"c\.parquet.*cannot read"):
        load_task(tmp_path / "c.parquet")


def test_kinds_targets_and_unseen_classes(tmp_path):
    df = _table(tmp_path)
    t = task_from_table(df, "instrument_family")
    assert t.kind == "multiclass" and t.classes == ("a", "b", "c") and t.y.dtype == np.int64
    df2 = df.copy()
    df2.loc[3, "label"] = "zzz"  # a test row with a class never seen in train
    t2 = task_from_table(df2, "x")
    assert len(t2.table) == len(df) - 1 and "zzz" in t2.dropped[0]
    key = task_from_table(df.assign(label=["Db major", "C# major", "A minor"] * 4), "key")
    assert key.kind == "key" and len(key.classes) == 24
    assert set(key.y) == {key.classes.index("A minor"), key.classes.index("C# major")}
    tag = task_from_table(df.assign(labels=[["x"], ["x", "y"], []] * 4), "tagging")
    assert tag.kind == "multilabel" and tag.y.shape == (12, 2) and tag.y.dtype == bool
    reg = task_from_table(df.assign(label=np.linspace(60, 180, 12)), "tempo")
    assert reg.kind == "regression" and reg.primary == "r2"


def test_handcrafted_features_chroma_and_mfcc_oracle(tmp_path):
    wav = np.sin(2 * np.pi * 440.0 * np.arange(SR) / SR).astype(np.float32)
    chroma = HandcraftedExtractor("chroma")
    c = chroma.chroma(wav)
    assert c.shape[0] == 12 and int(c.mean(1).argmax()) == 9  # A
    assert chroma(wav)["embed"].shape == (24,)
    assert HandcraftedExtractor("logmel")(wav)["embed"].shape == (256,)
    mf = HandcraftedExtractor("mfcc")
    got = mf(wav)["embed"]
    librosa = pytest.importorskip("librosa")
    import torch

    mel = mf.frontend(torch.from_numpy(wav))[0].numpy().astype(np.float64)
    want = librosa.feature.mfcc(S=mel, n_mfcc=20, dct_type=2, norm="ortho")
    np.testing.assert_allclose(got[:20], want.mean(1), rtol=1e-4, atol=1e-3)
    with pytest.raises(ValueError, match="unknown hand-crafted"):
        HandcraftedExtractor("zcr")


def test_cache_reuses_features_and_skips_bad_clips(tmp_path):
    df = _table(tmp_path)
    (tmp_path / "broken.wav").write_bytes(b"RIFF....garbage")
    df.loc[0, "path"] = str(tmp_path / "broken.wav")
    task = task_from_table(df, "x")
    ex = HandcraftedExtractor("mfcc")
    memo = ClipMemo()
    a = task_features(ex, task, tmp_path / "cache", memo)
    assert not a.cached and not a.ok[0] and a.ok[1:].all() and "broken.wav" in a.skipped[0]
    b = task_features(ex, task, tmp_path / "cache")
    assert b.cached
    np.testing.assert_array_equal(a.feats["embed"], b.feats["embed"])
    other = task_from_table(df.iloc[1:], "x")  # another clip list: another cache entry
    c = task_features(ex, other, tmp_path / "cache", memo)
    assert not c.cached and c.seconds < a.seconds + 1.0  # clips came from the run's memo
    assert len(list((tmp_path / "cache" / ex.fingerprint()).iterdir())) == 2


def test_embed_layers_is_embed_plus_mean_hidden_states(one_thread):
    import torch

    from lyrebird.encoders import get_encoder

    enc = get_encoder("myna:tiny-hybrid", device="cpu")
    wav = np.random.default_rng(0).normal(size=int(SR * 7.3)).astype(np.float32) * 0.1
    emb, layers = enc.embed_layers(wav, SR)
    torch.testing.assert_close(emb, enc.embed(wav, SR), atol=1e-5, rtol=1e-5)
    hs = enc.hidden_states(wav, SR)
    assert len(layers) == len(hs)
    for a, h in zip(layers, hs, strict=True):
        torch.testing.assert_close(a, h.mean(0), atol=1e-5, rtol=1e-5)


def test_test_clips_of_works_seen_in_pretraining_are_dropped(tmp_path):
    df = _table(tmp_path).assign(work_id=[f"w{i // 2}" for i in range(12)])
    task = task_from_table(df, "instrument_family")
    test_rows = df.index[df["split"] == "test"].tolist()  # rows 3, 7, 11: works w1, w3, w5
    pre = pd.DataFrame({"path": ["x.wav"] * 4, "work_id": ["w1", "w3", "w4", "w9"],
                        "split": ["train", "valid", "train", "test"]})
    pre.to_parquet(tmp_path / "pretrain.parquet")
    out = drop_seen_test_works(task, seen_works([tmp_path / "pretrain.parquet"]))
    # w1 and w3 were heard in pretraining (train/valid); w9 only in its test split; w4 is not
    # a test work here, so train/valid rows are untouched
    assert out.table["work_id"].tolist() == [w for i, w in enumerate(df["work_id"])
                                             if i not in (3, 7)]
    assert np.array_equal(out.y, task.y[[i for i in range(12) if i not in (3, 7)]])
    assert (out.table["split"] == "test").sum() == len(test_rows) - 2
    assert "2 test clips" in out.dropped[-1] and "unseen in pretraining" in out.source
    assert drop_seen_test_works(task, set()) is task
    every = pre.assign(work_id=["w1", "w3", "w5", "w9"], split="train")
    every.to_parquet(tmp_path / "all.parquet")
    with pytest.raises(TaskError, match="every test work"):
        drop_seen_test_works(task, seen_works([tmp_path / "all.parquet"]))
    pre.drop(columns="work_id").to_parquet(tmp_path / "nowork.parquet")
    with pytest.raises(TaskError, match="nowork.parquet.*work_id"):
        seen_works([tmp_path / "nowork.parquet"])
