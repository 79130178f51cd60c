"""Distilling teachers into the tag head (``train/trainers/tag_head.py``): segment targets are
the teacher windows centred in each library segment; a learnable teacher is learnt (fidelity
ROC-AUC near 1); the fidelity and calibration helpers against hand-made cases."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from tone_model import ToneModel

from lyrebird.train.teachers.windows import WindowConfig, label_windows
from lyrebird.train.trainers.tag_head import (
    TagHeadTrainConfig,
    _targets,
    calibrate,
    fidelity,
    fit,
    segment_set,
)

SR = 16000
WIN = 187 * 256


class LowHighTeacher:
    """Per 2.992 s window: p(low) = share of energy below 1 kHz, p(high) = the rest;
    features = (low share, 1)."""

    sample_rate = SR
    window_frames = 187
    frontend = SimpleNamespace(cfg=SimpleNamespace(hop_length=256))

    def _run(self, wav, sr, hop):
        n = len(wav) // WIN
        w = wav[: n * WIN].reshape(n, WIN)
        spec = np.abs(np.fft.rfft(w, axis=1)) ** 2
        low = spec[:, np.fft.rfftfreq(WIN, 1 / SR) < 1000].sum(1) / spec.sum(1)
        return (np.stack([low, 1 - low], 1).astype(np.float32),
                np.stack([low, np.ones_like(low)], 1).astype(np.float32))


def corpus(tmp_path, lows: list[float], split: str, seed: int) -> list[dict]:
    """Tracks mixing a low tone (amplitude ``a``) and a high one (``0.4 - a``), over bands
    shared by every split, so the low-energy share is learnable from the tone vectors."""
    rng = np.random.default_rng(seed)
    rows = []
    for i, a in enumerate(lows):
        t = np.arange(int(20 * SR)) / SR
        f_lo, f_hi = [200.0, 400.0][i % 2], [2000.0, 4000.0][i % 2]
        x = (a * np.sin(2 * np.pi * f_lo * t) + (0.4 - a) * np.sin(2 * np.pi * f_hi * t)
             + 0.01 * rng.standard_normal(len(t)))
        name = f"{split}{i}.wav"
        sf.write(tmp_path / name, x.astype(np.float32), SR)
        rows.append({"path": name, "start_s": 0.0, "end_s": 20.0, "split": split,
                     "package": f"pkg{i % 3}"})
    return rows


def labelled_corpus(tmp_path) -> tuple:
    """8 train and 4 valid tone tracks labelled window by window by two :class:`LowHighTeacher`
    stand-ins ("T1", "T2") → ``(manifest path, windows folder)``."""
    rows = (corpus(tmp_path, [0.05, 0.1, 0.15, 0.18, 0.22, 0.25, 0.3, 0.35], "train", 0)
            + corpus(tmp_path, [0.08, 0.12, 0.28, 0.32], "valid", 1))
    m = tmp_path / "m.parquet"
    pd.DataFrame(rows).to_parquet(m)
    taggers = {"T1": LowHighTeacher(), "T2": LowHighTeacher()}
    label_windows(m, tmp_path / "w", WindowConfig(teachers=tuple(taggers), split=None),
                  taggers=taggers)
    return m, tmp_path / "w"


def test_segment_targets_average_the_windows_centred_inside():
    starts = np.arange(0, 30, 2.992)[:10].astype(np.float32)
    arrays = {"A/probs": np.arange(10, dtype=np.float16)[:, None].repeat(2, 1),
              "A/feats": np.ones((10, 3), np.float16)}
    p, _f, keep = _targets(starts, 2.992, [(0.0, 10.0), (5.0, 15.0), (40.0, 50.0)], arrays,
                          ["A"], 1.0)
    centres = starts + 1.496
    for j, (s, e) in enumerate([(0.0, 10.0), (5.0, 15.0)]):
        want = np.arange(10)[(centres >= s) & (centres < e)].mean()
        assert p[j, 0] == pytest.approx(want)
    assert keep.tolist() == [True, True, False]


def test_a_learnable_teacher_is_distilled(tmp_path):
    m, _ = labelled_corpus(tmp_path)
    cfg = TagHeadTrainConfig(teachers=("T1", "T2"), epochs=60, hidden=32, top=1, lr=1e-2)
    model = ToneModel()
    tr = segment_set(m, tmp_path / "w", model, tmp_path / "cache", cfg, split="train")
    va = segment_set(m, tmp_path / "w", model, tmp_path / "cache", cfg, split="valid")
    assert tr.x.shape[1] == ToneModel.DIM and tr.probs.shape[1] == 4 and len(tr) >= 8 * 3
    assert set(va.group) <= {"pkg0", "pkg1", "pkg2"}
    names = ("low", "high", "low", "high")
    head, rep = fit(tr, va, names, cfg)
    assert rep["curve"][rep["best_epoch"]] < rep["curve"][0]
    fid = fidelity(head.probs(va.x), va.probs, names, cfg.teachers, top=1, min_pos=2)
    for t in cfg.teachers:
        assert fid[t]["n_tags"] == 2 and fid[t]["macro_roc_auc"] > 0.95
        assert fid[t]["mean_pearson"] > 0.6
    # cached: a second pass embeds nothing new and gives the same vectors
    again = segment_set(m, tmp_path / "w", model, tmp_path / "cache", cfg, split="valid")
    assert np.array_equal(again.x, va.x)


def test_fidelity_and_calibration_on_hand_made_cases():
    rng = np.random.default_rng(0)
    teacher = rng.random((200, 4))
    names, teachers = ("a", "b", "c", "d"), ("T1", "T2")
    from sklearn.metrics import roc_auc_score

    student = teacher + 0.3 * rng.standard_normal(teacher.shape)
    got = fidelity(student, teacher, names, teachers, top=1, min_pos=5)
    for j, t in enumerate(teachers):  # each teacher's own two tags; present = its top tag
        p, s = teacher[:, 2 * j: 2 * j + 2], student[:, 2 * j: 2 * j + 2]
        present = p == p.max(1, keepdims=True)
        want = np.mean([roc_auc_score(present[:, k], s[:, k]) for k in range(2)])
        assert got[t]["macro_roc_auc"] == pytest.approx(want)
        assert got[t]["pearson"][names[2 * j]] == pytest.approx(np.corrcoef(s[:, 0], p[:, 0])[0, 1])
    # a student that copies its teacher ranks each tag's present segments first
    same = fidelity(teacher, teacher, names, teachers, top=1, min_pos=5)
    assert all(d["macro_roc_auc"] > 0.7 for d in same.values())
    # the student's probabilities are the teacher's halved: thresholds find the matching cut
    th = calibrate(teacher * 0.5, teacher, top=2)
    pos = np.argsort(-teacher, 1)[:, :2]
    mask = np.zeros_like(teacher, bool)
    np.put_along_axis(mask, pos, True, 1)
    f1 = [2 * ((teacher[:, k] * 0.5 >= th[k]) & mask[:, k]).sum()
          / ((teacher[:, k] * 0.5 >= th[k]).sum() + mask[:, k].sum()) for k in range(4)]
    assert min(f1) > 0.7
