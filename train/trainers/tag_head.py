"""Distil the musicnn teachers into a tag head on the MuLan audio vector (``lyrebird train
tag-head``), window by window.

Data: the window shards of ``lyrebird teach MANIFEST --windows`` (each ≈3 s teacher window's
probabilities and penultimate features, clean and augmented copies). Each labelled track (or
augmented copy, re-made from the seed in its shard) is embedded the way a library embeds it —
10 s segments every ``hop_s`` seconds (:func:`lyrebird.index.ingest.embed_waveform`) — and each
segment's target is the mean of the teacher windows whose centre lies inside it. Segment
vectors are cached per shard, so a run after more labelling only embeds what is new.

Loss: BCE on the teachers' probabilities (soft targets) plus ``feat_weight`` × (1 − cosine)
on their penultimate features. Selection: the epoch with the lowest valid loss. Fidelity
(:func:`fidelity`): per teacher, macro ROC-AUC of the student's probabilities against the
teacher's own top tags on valid segments (a tag counts as present in a segment when it is
among the teacher's ``top`` tags there), and each tag's Pearson correlation with the teacher.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from lyrebird.core.atomic import replaced_on_success
from lyrebird.encoders import AudioError
from lyrebird.encoders.audio import load_audio
from lyrebird.index.ingest import embed_waveform
from lyrebird.mulan.tag_head import TagHead, TagHeadConfig
from lyrebird.mulan.tag_head_net import TagHeadNet
from lyrebird.train.corpora.manifest import resolve_path
from lyrebird.train.teachers import MUSICNN_PAIR
from lyrebird.train.teachers.windows import SR as TEACHER_SR
from lyrebird.train.teachers.windows import read_shard, remake_copy

log = logging.getLogger("lyrebird.train")
TEACHERS: tuple[str, ...] = MUSICNN_PAIR


@dataclass(frozen=True)
class TagHeadTrainConfig:
    """How the head is trained.

    Attributes:
        teachers: teachers whose outputs the head predicts, in output order (50 tags each).
        segment_s, hop_s: the library's segment length and hop (seconds).
        hidden: hidden width of the head (0: linear).
        feat_weight: weight of the (1 − cosine) feature term.
        epochs, batch, lr, weight_decay: optimisation.
        top: tags per segment that count as the teacher's own (fidelity, calibration).
        seed: shuffling and initialisation.
    """

    teachers: tuple[str, ...] = TEACHERS
    segment_s: float = 10.0
    hop_s: float = 5.0
    hidden: int = 512
    feat_weight: float = 0.5
    epochs: int = 80
    batch: int = 256
    lr: float = 2e-3
    weight_decay: float = 1e-4
    top: int = 5
    seed: int = 0


@dataclass
class SegmentSet:
    """Segments of one split: vectors ``(S, D)``, teacher probabilities ``(S, T)``, teacher
    features ``(S, F)``, the track (shard) of each segment ``(S,)`` and its package."""

    x: np.ndarray
    probs: np.ndarray
    feats: np.ndarray
    track: np.ndarray
    group: list[str]

    def __len__(self) -> int:
        return len(self.x)


def _targets(starts: np.ndarray, win_s: float, spans: Sequence[tuple[float, float]],
             arrays: dict[str, np.ndarray], teachers: Sequence[str], speed: float
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean teacher probabilities and features of the windows centred in each span; ``keep``
    marks spans with at least one window."""
    centres = (starts / speed + win_s / speed / 2.0)  # in seconds of the (augmented) audio
    probs = np.concatenate([arrays[f"{t}/probs"].astype(np.float32) for t in teachers], 1)
    feats = np.concatenate([arrays[f"{t}/feats"].astype(np.float32) for t in teachers], 1)
    p_out, f_out, keep = [], [], []
    for s, e in spans:
        m = (centres >= s) & (centres < e)
        keep.append(bool(m.any()))
        p_out.append(probs[m].mean(0) if m.any() else np.zeros(probs.shape[1], np.float32))
        f_out.append(feats[m].mean(0) if m.any() else np.zeros(feats.shape[1], np.float32))
    return np.stack(p_out), np.stack(f_out), np.asarray(keep)


def segment_set(manifest: str | Path, windows: str | Path, model: Any, cache: str | Path,
                cfg: TagHeadTrainConfig = TagHeadTrainConfig(), copies: bool = True,
                split: str | None = None) -> SegmentSet:
    """Embed every labelled shard of ``windows`` whose track is in the manifest's ``split``
    (``None``: any; ``copies``: augmented copies too) with ``model`` (a
    :class:`lyrebird.index.LibraryModel`) and pair each segment with its teacher targets.
    The split is the manifest's, not the labelling run's, so one shard pool serves every
    split. Vectors are cached in ``cache`` per shard and model fingerprint."""
    manifest, windows, cache = Path(manifest), Path(windows), Path(cache)
    cache.mkdir(parents=True, exist_ok=True)
    shards = sorted((windows / "shards").glob("*.npz"))
    fp = model.fingerprint()[:12]
    rows = pd.read_parquet(manifest) if manifest.suffix == ".parquet" else pd.read_csv(manifest)
    by_track = {(str(r["path"]), float(r.get("start_s") or 0.0)): r for _, r in rows.iterrows()}
    xs, ps, fs, tr, groups = [], [], [], [], []
    for i, shard in enumerate(shards):
        meta, arrays = read_shard(shard)
        row = by_track.get((str(meta["path"]), float(meta["start_s"] or 0.0)))
        if (meta["copy"] > 0 and not copies) or row is None or (
                split is not None and row.get("split") != split):
            continue
        c = cache / f"{shard.stem}-{fp}-{cfg.segment_s:g}-{cfg.hop_s:g}.npz"
        if c.is_file():
            with np.load(c) as z:
                vec, spans = z["vec"], [tuple(s) for s in z["spans"]]
        else:
            try:
                wav = load_audio(resolve_path(manifest, meta["path"]), TEACHER_SR,
                                 offset_s=meta["start_s"] or 0.0,
                                 duration_s=None if meta["end_s"] is None
                                 else meta["end_s"] - (meta["start_s"] or 0.0))
            except (AudioError, OSError, ValueError) as e:
                log.warning("tag head: skipping %s: %s", meta["path"], e)
                continue
            if meta["copy"] > 0:
                wav, _ = remake_copy(wav, TEACHER_SR, shard.stem, meta)
            if model.SAMPLE_RATE != TEACHER_SR:
                from lyrebird.encoders.audio import resample

                wav = resample(wav, TEACHER_SR, model.SAMPLE_RATE)
            emb = embed_waveform(model, wav.astype(np.float32), cfg.segment_s, cfg.hop_s)
            vec, spans = emb.seg_vectors.astype(np.float16), emb.segments
            with replaced_on_success(c) as tmp, open(tmp, "wb") as fh:
                np.savez(fh, vec=vec, spans=np.asarray(spans, np.float32))
        speed = float((meta.get("augment") or {}).get("speed", 1.0))
        p, f, keep = _targets(arrays["starts_s"], meta["window_s"], spans, arrays,
                              cfg.teachers, speed)
        xs.append(vec[keep].astype(np.float32))
        ps.append(p[keep])
        fs.append(f[keep])
        tr.append(np.full(int(keep.sum()), i))
        pkg = str(row.get("package", row.get("collection", "")))
        groups += [pkg] * int(keep.sum())
    if not xs:
        raise ValueError(f"no labelled windows under '{windows}'"
                         + (f" for the {split} split" if split else ""))
    return SegmentSet(np.concatenate(xs), np.concatenate(ps), np.concatenate(fs),
                      np.concatenate(tr), groups)


def _loss(head: TagHeadNet, x: torch.Tensor, p: torch.Tensor, f: torch.Tensor,
          feat_weight: float) -> torch.Tensor:
    logit, feat = head(x)
    loss = F.binary_cross_entropy_with_logits(logit, p)
    if feat is not None and feat_weight > 0:
        loss = loss + feat_weight * (1 - F.cosine_similarity(feat, f, dim=1)).mean()
    return loss


def fit(train: SegmentSet, valid: SegmentSet, names: Sequence[str],
        cfg: TagHeadTrainConfig = TagHeadTrainConfig()) -> tuple[TagHeadNet, dict[str, Any]]:
    """Train the head on ``train`` and keep the epoch with the lowest ``valid`` loss."""
    torch.manual_seed(cfg.seed)
    head = TagHeadNet(TagHeadConfig(tags=tuple(names), dim=train.x.shape[1], hidden=cfg.hidden,
                                 feat_dim=train.feats.shape[1] if cfg.feat_weight else 0))
    opt = torch.optim.AdamW(head.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, cfg.epochs)
    tx, tp, tf = (torch.from_numpy(a) for a in (train.x, train.probs, train.feats))
    vx, vp, vf = (torch.from_numpy(a) for a in (valid.x, valid.probs, valid.feats))
    best, best_state, curve = float("inf"), None, []
    rng = torch.Generator().manual_seed(cfg.seed)
    t0 = time.perf_counter()
    for epoch in range(cfg.epochs):
        head.train()
        for idx in torch.randperm(len(tx), generator=rng).split(cfg.batch):
            opt.zero_grad()
            _loss(head, tx[idx], tp[idx], tf[idx], cfg.feat_weight).backward()
            opt.step()
        sched.step()
        head.eval()
        with torch.no_grad():
            v = float(_loss(head, vx, vp, vf, cfg.feat_weight))
        curve.append(round(v, 5))
        if v < best:
            best, best_state = v, {k: t.clone() for k, t in head.state_dict().items()}
            best_epoch = epoch
    head.load_state_dict(best_state)
    return head.eval(), {"valid_loss": best, "best_epoch": best_epoch, "curve": curve,
                         "seconds": round(time.perf_counter() - t0, 1),
                         "train_segments": len(train), "valid_segments": len(valid)}


def _top_mask(p: np.ndarray, top: int) -> np.ndarray:
    idx = np.argsort(-p, axis=1)[:, :top]
    m = np.zeros_like(p, dtype=bool)
    np.put_along_axis(m, idx, True, axis=1)
    return m


def fidelity(student: np.ndarray, teacher: np.ndarray, names: Sequence[str],
             teachers: Sequence[str], top: int = 5, min_pos: int = 10) -> dict[str, Any]:
    """Student ``(S, T)`` vs teacher ``(S, T)`` probabilities on valid segments, per teacher
    (``T`` = 50 per teacher, in ``teachers`` order): macro ROC-AUC over the tags that are among
    the teacher's ``top`` tags in at least ``min_pos`` segments (and absent in as many), and
    every tag's Pearson correlation."""
    from sklearn.metrics import roc_auc_score

    per = len(names) // len(teachers)
    out: dict[str, Any] = {}
    for j, t in enumerate(teachers):
        sl = slice(j * per, (j + 1) * per)
        s, p = student[:, sl], teacher[:, sl]
        pos = _top_mask(p, top)
        aucs = {}
        for k in range(per):
            n = int(pos[:, k].sum())
            if min_pos <= n <= len(pos) - min_pos:
                aucs[names[sl][k]] = float(roc_auc_score(pos[:, k], s[:, k]))
        corr = {names[sl][k]: float(np.corrcoef(s[:, k], p[:, k])[0, 1])
                if p[:, k].std() > 0 and s[:, k].std() > 0 else float("nan")
                for k in range(per)}
        out[t] = {"macro_roc_auc": float(np.mean(list(aucs.values()))) if aucs else float("nan"),
                  "n_tags": len(aucs), "roc_auc": aucs, "pearson": corr,
                  "mean_pearson": float(np.nanmean(list(corr.values())))}
    return out


def calibrate(student: np.ndarray, teacher: np.ndarray, top: int = 5,
              n_teachers: int = 1) -> np.ndarray:
    """Per-tag thresholds on the student's probabilities that best reproduce (F1) each
    teacher's top-``top`` decisions on valid segments; ``(S, T)`` in, the ``T`` columns being
    ``n_teachers`` equal blocks (one per teacher, as :func:`fidelity` reads them); ``(T,)``
    float32 out. A tag never among its teacher's top gets 0.99 (never shown)."""
    per = teacher.shape[1] // n_teachers
    pos = np.concatenate([_top_mask(teacher[:, j * per:(j + 1) * per], top)
                          for j in range(n_teachers)], axis=1)
    grid = np.linspace(0.02, 0.98, 49)
    out = np.full(student.shape[1], 0.5, np.float32)
    for k in range(student.shape[1]):
        if not pos[:, k].any():
            out[k] = 0.99
            continue
        pred = student[:, k][None, :] >= grid[:, None]
        tp = (pred & pos[:, k]).sum(1)
        f1 = 2 * tp / (pred.sum(1) + pos[:, k].sum() + 1e-9)
        out[k] = grid[int(np.argmax(f1))]
    return out


def train_tag_head(manifest: str | Path, windows: str | Path, model: str = "default",
                   out: str | Path | None = None, cfg: TagHeadTrainConfig = TagHeadTrainConfig(),
                   cache: str | Path | None = None) -> dict[str, Any]:
    """The whole job: embed the labelled segments of ``windows`` (a ``lyrebird teach
    --windows`` folder; the manifest's train and valid tracks) with MuLan ``model`` (a spec),
    fit the head, measure fidelity on valid, calibrate per-tag thresholds, and save the head to
    ``out`` (default: the model's checkpoint folder, ``tag_head/``) with ``report.json``."""
    from lyrebird.index.model import load_model
    from lyrebird.mulan.model_files import resolve_checkpoint
    from lyrebird.mulan.tag_head import HEAD_DIR, head_tags
    from lyrebird.mulan.tag_space import logits
    from lyrebird.train.teachers import TEACHERS as REGISTRY

    torch.set_num_threads(max(1, torch.get_num_threads()))
    lib_model = load_model(model)
    names = tuple(t for name in cfg.teachers for t in REGISTRY[name]["tags"])
    if cfg.teachers == TEACHERS and names != head_tags():
        raise ValueError("teacher tag order differs from lyrebird.mulan.tag_head.head_tags()")
    cache = Path(cache or Path(windows) / "tag-head-cache")
    tr = segment_set(manifest, windows, lib_model, cache, cfg, copies=True, split="train")
    va = segment_set(manifest, windows, lib_model, cache, cfg, copies=False, split="valid")
    head, rep = fit(tr, va, names, cfg)
    student = head.probs(va.x)
    fid = fidelity(student, va.probs, names, cfg.teachers, cfg.top)
    thresholds = calibrate(student, va.probs, cfg.top, len(cfg.teachers))
    mean_logit = logits(head.probs(tr.x)).mean(0)
    head = _with(head, thresholds=tuple(float(t) for t in thresholds),
                 mean_logit=tuple(float(m) for m in mean_logit))
    out = Path(out) if out is not None else resolve_checkpoint(model) / HEAD_DIR
    report = {"fit": rep, "fidelity": {t: {k: v for k, v in d.items()
                                           if k in ("macro_roc_auc", "n_tags", "mean_pearson")}
                                       for t, d in fid.items()},
              "teachers": list(cfg.teachers), "model": model,
              "train_tracks": int(len(np.unique(tr.track))),
              "valid_tracks": int(len(np.unique(va.track)))}
    head.save(out, extra={"report": report})
    write_report(out / "report.json", report | {"per_tag": fid})
    store_name_vectors(out, lib_model)
    return report


def store_name_vectors(head_dir: str | Path, lib_model: Any) -> Path:
    """Embed the tag names of the head in ``head_dir`` (every language and synonym) with the
    text tower of ``lib_model`` and store them beside the head, so no library embeds them."""
    from lyrebird.index.model import text_key
    from lyrebird.mulan.tag_head import save_name_vectors, tag_groups

    head = TagHead.load(head_dir)
    texts = list(dict.fromkeys(n for g in tag_groups(head.names)[0] for n in g))
    vecs = np.asarray(lib_model.embed_text(texts), np.float32)
    vecs /= np.maximum(np.linalg.norm(vecs, axis=1, keepdims=True), 1e-12)
    return save_name_vectors(head_dir, text_key(lib_model), texts, vecs)


def _with(head: TagHeadNet, **changes: Any) -> TagHeadNet:
    """The same weights under a config with ``changes``."""
    from dataclasses import replace

    new = TagHeadNet(replace(head.cfg, **changes))
    new.load_state_dict(head.state_dict())
    return new.eval()


def write_report(path: str | Path, report: dict[str, Any]) -> None:
    """The training and fidelity report as JSON (written atomically)."""
    with replaced_on_success(Path(path)) as tmp:
        Path(tmp).write_text(json.dumps(report, indent=1, default=float))


__all__ = ["TEACHERS", "SegmentSet", "TagHeadTrainConfig", "calibrate", "fidelity", "fit",
           "segment_set", "train_tag_head", "write_report"]
