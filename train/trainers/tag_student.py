"""Train the distilled tag student (:mod:`lyrebird.mulan.tag_student`) on window labels.

Input: a corpus manifest and a ``lyrebird teach --windows`` shard pool (each track's teacher
probabilities and penultimate features per non-overlapping 2.992 s window), read as musicnn
log-mels by :func:`.window_set.window_set` (cached beside the labels). The student learns from
scratch, or from a trained student (``init``): BCE on the teachers' probabilities +
``feat_weight`` × (1 − cosine) on each teacher's features, AdamW with a one-cycle schedule,
±``jitter`` frames of random shift.

Fidelity (valid) is measured as for the tag head (:func:`.tag_head.fidelity`): per teacher,
macro ROC-AUC against the teacher's own top tags, on 10 s segments at a 5 s hop (each the mean
of the windows centred in it) and on the windows themselves. A run is checkpointed after every
epoch and resumes from there.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from lyrebird.mulan.tag_student import TagStudent, TagStudentConfig
from lyrebird.train.teachers import MUSICNN_PAIR

from .tag_head import _targets, calibrate, fidelity
from .window_set import WindowSet, joined, window_set


@dataclass(frozen=True)
class TagStudentTrainConfig:
    """How the student is trained.

    Attributes:
        teachers: teachers whose outputs it predicts, in output order.
        width: channels of the student's second conv block (:class:`TagStudentConfig`).
        epochs, batch, lr, weight_decay: optimisation (one-cycle peak ``lr``).
        feat_weight: weight of the (1 − cosine) feature term.
        logit_weight: weight of a mean-squared error between the student's and the teachers'
            logits (the teachers' probabilities clipped to [``logit_floor``, 1 − ``logit_floor``]),
            which, unlike the BCE, keeps the order of small probabilities (a tag a window
            hardly has) and of the top (0 = off, the shipped student's recipe).
        rank_weight: weight of a listwise ranking term (ListNet): per tag, the cross-entropy
            between the teachers' and the student's softmax over the batch's windows of
            logit / ``rank_temperature``, so the student learns which windows have a tag
            most, what a search ranks by (0 = off).
        jitter: random shift of each training window, in frames (16 ms).
        top: tags per window or segment that count as the teacher's own (fidelity).
        copies: train on the train tracks' labelled augmented copies too (``lyrebird teach
            --windows --copies N``); the valid windows stay clean.
        seed: initialisation and shuffling.
        init: a student folder to start from (fine-tuning: its weights and input
            normalisation; its teachers and width must match), or ``""`` to start from
            scratch.
    """

    teachers: tuple[str, ...] = MUSICNN_PAIR
    width: int = 32
    epochs: int = 20
    batch: int = 64
    lr: float = 2e-3
    weight_decay: float = 1e-4
    feat_weight: float = 0.5
    logit_weight: float = 0.0
    logit_floor: float = 1e-3
    rank_weight: float = 0.0
    rank_temperature: float = 1.0
    jitter: int = 6
    top: int = 5
    copies: bool = False
    seed: int = 0
    init: str = ""


def listwise_loss(logits: torch.Tensor, target: torch.Tensor, temperature: float = 1.0
                  ) -> torch.Tensor:
    """ListNet over a batch, per tag: ``logits``, ``target`` ``(B, T)`` → the mean over tags of
    the cross-entropy between ``softmax(target / τ)`` and ``softmax(logits / τ)`` taken over the
    B windows, minus the target's entropy (so a student that ranks and spaces the windows as
    the teacher does scores 0)."""
    t = F.softmax(target / temperature, dim=0)
    ce = -(t * F.log_softmax(logits / temperature, dim=0)).sum(0)
    return (ce + (t * torch.log(t.clamp_min(1e-12))).sum(0)).mean()


def distill_loss(logits: torch.Tensor, feats: torch.Tensor, probs: torch.Tensor,
                 teacher_feats: torch.Tensor, feat_dims: tuple[int, ...],
                 cfg: TagStudentTrainConfig) -> torch.Tensor:
    """The student's loss on a batch: ``logits``, ``probs`` ``(B, T)`` (the teachers'
    probabilities), ``feats``, ``teacher_feats`` ``(B, sum(feat_dims))`` (each teacher's
    penultimate features, in ``feat_dims`` blocks). BCE on the probabilities, plus
    ``feat_weight`` × the mean over teachers of (1 − cosine) of their feature blocks, plus the
    optional logit MSE and listwise terms (:class:`TagStudentTrainConfig`)."""
    bounds = np.cumsum((0, *feat_dims))
    cos = sum(1 - F.cosine_similarity(feats[:, lo:hi], teacher_feats[:, lo:hi], dim=1)
              for lo, hi in itertools.pairwise(bounds)) / len(feat_dims)
    loss = F.binary_cross_entropy_with_logits(logits, probs) + cfg.feat_weight * cos.mean()
    if cfg.logit_weight or cfg.rank_weight:
        target = torch.logit(probs.clamp(cfg.logit_floor, 1 - cfg.logit_floor))
        if cfg.logit_weight:
            loss = loss + cfg.logit_weight * F.mse_loss(logits, target)
        if cfg.rank_weight:
            loss = loss + cfg.rank_weight * listwise_loss(logits, target, cfg.rank_temperature)
    return loss


@torch.no_grad()
def predict(student: TagStudent, ws: WindowSet, batch: int = 256) -> np.ndarray:
    """``(W, T)`` float32 probabilities of every window of ``ws``."""
    student.eval()
    n = student.cfg.n_frames
    out = [torch.sigmoid(student(ws.batch(np.arange(i, min(i + batch, len(ws))), n))[0])
           for i in range(0, len(ws), batch)]
    return torch.cat(out).numpy()


def segment_pairs(p: np.ndarray, ws: WindowSet, teachers: tuple[str, ...],
                  window_s: float = 2.992) -> tuple[np.ndarray, np.ndarray]:
    """Window probabilities ``p (W, T)`` of ``ws`` → ``(student, teacher)`` probabilities of
    its 10 s segments at a 5 s hop ``(S, T)`` each (each the mean of the windows centred in
    it; as the head is measured and calibrated)."""
    per = p.shape[1] // len(teachers)
    seg_s, seg_t = [], []
    for k in range(len(ws.track_rows) - 1):
        a, b = ws.track_rows[k], ws.track_rows[k + 1]
        st = ws.track_win_s[k].astype(np.float64)
        end = float(st[-1]) + window_s
        spans = [(s, s + 10.0) for s in np.arange(0.0, max(end - 10.0, 0.0) + 1e-6, 5.0)]

        def arrays(x, a=a, b=b):
            d = {f"{t}/probs": x[a:b, j * per:(j + 1) * per] for j, t in enumerate(teachers)}
            d.update({f"{t}/feats": np.zeros((b - a, 1), np.float32) for t in teachers})
            return d

        ps, _, keep = _targets(st, window_s, spans, arrays(p), teachers, 1.0)
        pt, _, _ = _targets(st, window_s, spans, arrays(ws.probs.astype(np.float32)), teachers, 1.0)
        seg_s.append(ps[keep])
        seg_t.append(pt[keep])
    return np.concatenate(seg_s), np.concatenate(seg_t)


def student_fidelity(p: np.ndarray, ws: WindowSet, teachers: tuple[str, ...], top: int,
                     min_pos: int = 10) -> dict[str, Any]:
    """Fidelity of window probabilities ``p (W, T)`` to the teachers on ``ws``: per teacher,
    on 10 s segments (:func:`segment_pairs`) and on the windows."""
    seg_s, seg_t = segment_pairs(p, ws, teachers)
    segs = fidelity(seg_s, seg_t, ws.names, teachers, top, min_pos)
    wins = fidelity(p, ws.probs.astype(np.float32), ws.names, teachers, top, min_pos)
    return {"segments": segs, "windows": wins}


def calibrated(student: TagStudent, p: np.ndarray, ws: WindowSet, top: int) -> TagStudent:
    """``student`` with per-tag thresholds (the chips) calibrated on valid: on its 10 s
    segments, the probability that best reproduces (F1) each teacher's top-``top`` tags
    (:func:`.tag_head.calibrate`, as the head's); ``p (W, T)``: its window probabilities."""
    seg_s, seg_t = segment_pairs(p, ws, student.cfg.teachers)
    thr = calibrate(seg_s, seg_t, top, len(student.cfg.teachers))
    out = TagStudent(replace(student.cfg, thresholds=tuple(float(t) for t in thr)))
    out.load_state_dict(student.state_dict())
    return out.eval()


def calibrate_student(manifest: str | os.PathLike, windows: str | os.PathLike,
                      student_dir: str | os.PathLike, top: int = 5,
                      cache: str | os.PathLike | None = None) -> dict[str, Any]:
    """Calibrate the chips' thresholds of the student saved in ``student_dir`` on the valid
    labels of ``windows`` (no training) and save it back; its fingerprint, and so the tags
    libraries stored with it, stay valid. Returns the fidelity on valid."""
    d = Path(student_dir)
    student = TagStudent.load(d)
    cache = Path(cache) if cache is not None else Path(windows) / "student-cache"
    va = window_set(manifest, windows, "valid", student.cfg.teachers, cache)
    if va.names != student.names:
        raise ValueError(f"'{windows}': valid labels name other tags than the student in '{d}'")
    p = predict(student, va)
    fid = student_fidelity(p, va, student.cfg.teachers, top)
    meta = json.loads((d / "config.json").read_text())
    card = (d / "README.md").read_text() if (d / "README.md").is_file() else None
    keep = {k: v for k, v in meta.items() if k not in ("format_version", "kind", "preset",
                                                      "config", "dtype")}
    keep["calibration"] = {"split": "valid", "top": top, "valid_windows": len(va)}
    calibrated(student, p, va, top).save(d, extra=keep, card=card)
    return {"valid_windows": len(va), "fidelity": fid}


def _start_from(student: TagStudent, folder: Path) -> None:
    """Copy the weights of the student saved in ``folder`` into ``student`` (same shape)."""
    try:
        init = TagStudent.load(folder)
    except (OSError, ValueError, KeyError) as e:
        raise ValueError(f"init '{folder}': not a tag student folder ({e})") from e
    if (init.names, init.cfg.width, init.cfg.feat_dim) != (student.names, student.cfg.width,
                                                          student.cfg.feat_dim):
        raise ValueError(f"init '{folder}': its tags, width {init.cfg.width} or feature size "
                         f"{init.cfg.feat_dim} differ from the run's (width {student.cfg.width})")
    student.load_state_dict(init.state_dict())


def _run_key(cfg: TagStudentTrainConfig, tr: WindowSet, student: TagStudent) -> str:
    """What an epoch checkpoint must match to be resumed: the recipe, the training windows'
    labels and the starting weights (another run's checkpoint in the same cache is not)."""
    h = hashlib.sha1(json.dumps(cfg.__dict__, default=list).encode())
    h.update(np.ascontiguousarray(tr.probs).tobytes())
    h.update(np.ascontiguousarray(tr.starts).tobytes())
    for v in student.state_dict().values():
        h.update(v.detach().cpu().numpy().tobytes())
    return h.hexdigest()


def train_tag_student(manifest: str | os.PathLike, windows: str | os.PathLike,
                      out: str | os.PathLike, cfg: TagStudentTrainConfig = TagStudentTrainConfig(),
                      cache: str | os.PathLike | None = None,
                      on_epoch: Callable[[dict], None] | None = None,
                      more: Sequence[tuple[str | os.PathLike, str | os.PathLike]] = (),
                      workers: int = 1) -> dict[str, Any]:
    """Train on the manifest's train split, measure on valid, save the student to ``out``
    (with ``report.json``: per-epoch loss and fidelity, and the final per-tag numbers).
    ``cache``: where the log-mels and the epoch checkpoint go (default: ``windows/student-cache``,
    beside the labels, never in the checkpoint folder). ``more``: other corpora's
    ``(manifest, windows)`` whose train split trains the student too (each cached beside its
    own labels); valid stays ``manifest``'s. ``workers``: processes that decode the tracks
    not cached yet (a sung copy's voice is slow to remake)."""
    out = Path(out)
    cache = Path(cache) if cache is not None else Path(windows) / "student-cache"
    torch.manual_seed(cfg.seed)
    tr = joined([window_set(manifest, windows, "train", cfg.teachers, cache, copies=cfg.copies,
                            workers=workers)]
                + [window_set(m, w, "train", cfg.teachers, Path(w) / "student-cache",
                              copies=cfg.copies, workers=workers) for m, w in more])
    va = window_set(manifest, windows, "valid", cfg.teachers, cache, workers=workers)
    student = TagStudent(TagStudentConfig(names=tr.names, teachers=cfg.teachers, width=cfg.width,
                                          feat_dim=int(tr.feats.shape[1])))
    if cfg.init:
        _start_from(student, Path(cfg.init))
    else:
        sample = tr.mel[:: max(1, len(tr.mel) // 20000)].astype(np.float32)
        student.mu.copy_(torch.from_numpy(sample.mean(0)))
        student.sd.copy_(torch.from_numpy(sample.std(0) + 1e-3))
    steps = max(1, len(tr) // cfg.batch)
    opt = torch.optim.AdamW(student.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, cfg.lr, total_steps=cfg.epochs * steps,
                                                pct_start=0.1)
    ck, start, hist, key = cache / "epoch.pt", 0, [], _run_key(cfg, tr, student)
    if ck.is_file():
        s = torch.load(ck, weights_only=True)
        if s.get("run") == key:
            student.load_state_dict(s["model"])
            opt.load_state_dict(s["opt"])
            sched.load_state_dict(s["sched"])
            start, hist = int(s["epoch"]), json.loads(s["hist"])
    probs = torch.from_numpy(tr.probs.astype(np.float32))
    feats = torch.from_numpy(tr.feats.astype(np.float32))
    for epoch in range(start, cfg.epochs):
        student.train()
        rng = np.random.default_rng(cfg.seed + epoch)
        order, t0, total = rng.permutation(len(tr)), time.time(), 0.0
        for k in range(steps):
            b = order[k * cfg.batch:(k + 1) * cfg.batch]
            logits, f = student(tr.batch(b, student.cfg.n_frames, cfg.jitter, rng))
            loss = distill_loss(logits, f, probs[b], feats[b], tr.feat_dims, cfg)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss.detach())
        fid = student_fidelity(predict(student, va), va, cfg.teachers, cfg.top)
        hist.append({"epoch": epoch + 1, "loss": round(total / steps, 4),
                     "seconds": round(time.time() - t0, 1),
                     **{t: {"segments": round(fid["segments"][t]["macro_roc_auc"], 4),
                            "windows": round(fid["windows"][t]["macro_roc_auc"], 4)}
                        for t in cfg.teachers}})
        cache.mkdir(parents=True, exist_ok=True)
        torch.save({"model": student.state_dict(), "opt": opt.state_dict(),
                    "sched": sched.state_dict(), "epoch": epoch + 1, "hist": json.dumps(hist),
                    "config": json.dumps(cfg.__dict__, default=list), "run": key}, ck)
        if on_epoch is not None:
            on_epoch(hist[-1])
    p = predict(student, va)
    fid = student_fidelity(p, va, cfg.teachers, cfg.top)
    student = calibrated(student, p, va, cfg.top)
    rep = {"train_windows": len(tr), "valid_windows": len(va), "curve": hist,
           "fidelity": fid, "config": cfg.__dict__,
           "train_corpora": [str(manifest), *(str(m) for m, _ in more)]}
    student.save(out, extra={"fidelity": {t: {k: fid[k][t]["macro_roc_auc"] for k in fid}
                                          for t in cfg.teachers}})
    (out / "report.json").write_text(json.dumps(rep, indent=1, default=list) + "\n")
    return rep


__all__ = ["TagStudentTrainConfig", "WindowSet", "calibrate_student", "calibrated", "distill_loss",
           "listwise_loss", "predict", "segment_pairs", "student_fidelity", "train_tag_student",
           "window_set"]
