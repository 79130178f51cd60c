"""Evaluate a MuLan model on a manifest split and on MagnaTagATune (zero-shot).

* Retrieval: text→music (each caption queries all clips of the split) and music→text (each
  clip queries all captions of the split, per language), R@1/5/10, median rank, MRR and mAP.
  A caption is relevant to every clip that carries the identical text (templated captions
  repeat across clips with the same labels).
* Zero-shot tagging: cosine between clip and tag-prompt embeddings, ROC-AUC and PR-AUC per tag,
  macro over tags with at least ``min_pos`` positives; prompts in each caption language.
* A text-collapse check on the prompts and on distinct captions.

The manifest is passed as a DataFrame (``path`` absolute, ``start_s``, ``end_s``, ``split``,
``captions`` as lists of ``{lang, text}``, ``tags`` as lists of str); the CLI reads it with
the project's manifest reader.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from lyrebird.core.progress import progress
from lyrebird.encoders import AudioError, load_audio

from .metrics import retrieval_metrics, tagging_metrics
from .model import MuLan
from .vocabulary import mtt_test_split
from .zeroshot import (
    LANGS,
    check_text_spread,
    mtt_top50,
    templates_for,
    text_spread,
    translate_tags,
)

log = logging.getLogger("lyrebird.mulan")


def embed_clips(model: MuLan, table: pd.DataFrame, batch: int = 16,
                desc: str = "embedding clips") -> tuple[torch.Tensor, np.ndarray]:
    """Embed every row (``path``, ``start_s``, ``end_s``) → ``(N, dim)`` and a bool array of
    rows that could be decoded (unreadable rows get a zero vector and ``False``)."""
    sr = model.audio.sample_rate
    out = torch.zeros(len(table), model.cfg.dim)
    ok = np.zeros(len(table), dtype=bool)
    rows = list(table.itertuples(index=False))
    for i in progress(range(0, len(rows), batch), desc=desc):
        wavs, idx = [], []
        for j, r in enumerate(rows[i : i + batch], start=i):
            start = float(getattr(r, "start_s", 0.0) or 0.0)
            end = getattr(r, "end_s", None)
            dur = None if end is None or (isinstance(end, float) and math.isnan(end)) else \
                float(end) - start
            try:
                wavs.append(load_audio(r.path, sr, offset_s=start, duration_s=dur))
                idx.append(j)
            except AudioError as e:
                log.warning("skipping unreadable clip: %s", e)
        if wavs:
            out[idx] = model.embed_audio_batch(wavs, sr)
            ok[idx] = True
    return out, ok


def _caption_table(table: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for i, caps in enumerate(table["captions"]):
        for c in caps if isinstance(caps, list | tuple | np.ndarray) else []:
            rows.append({"clip": i, "lang": c["lang"], "text": c["text"]})
    return pd.DataFrame(rows, columns=["clip", "lang", "text"])


def retrieval_report(model: MuLan, audio: torch.Tensor, table: pd.DataFrame,
                     langs: Sequence[str] | None = None) -> dict:
    """Text→music and music→text metrics, overall and per caption language."""
    caps = _caption_table(table)
    if caps.empty:
        return {"error": "no captions in this split"}
    text = model.embed_text(caps["text"].tolist())
    a = torch.nn.functional.normalize(audio.float(), dim=-1)
    sim = (text @ a.T).numpy()  # (captions, clips)
    n_clips = len(table)
    # relevant[c, k]: clip k carries the exact text of caption c
    owners: dict[str, set[int]] = {}
    for t, k in zip(caps["text"], caps["clip"], strict=True):
        owners.setdefault(t, set()).add(int(k))
    rel = np.zeros((len(caps), n_clips), dtype=bool)
    for c, t in enumerate(caps["text"]):
        rel[c, list(owners[t])] = True
    out: dict = {"clips": n_clips, "captions": len(caps)}
    langs = list(langs) if langs else sorted(caps["lang"].unique(), key=lambda x: (x != "en", x))
    out["text_to_music"] = {"all": retrieval_metrics(sim, rel)}
    out["music_to_text"] = {}
    for lang in langs:
        m = (caps["lang"] == lang).to_numpy()
        if not m.any():
            continue
        out["text_to_music"][lang] = retrieval_metrics(sim[m], rel[m])
        has = rel[m].any(0)  # clips with a caption in this language
        out["music_to_text"][lang] = retrieval_metrics(sim[m][:, has].T, rel[m][:, has].T)
    return out


def tag_report(model: MuLan, audio: torch.Tensor, table: pd.DataFrame,
               vocab: Sequence[str] | None = None, langs: Sequence[str] = ("en",),
               ensemble: bool = False, min_pos: int = 20) -> dict:
    """Zero-shot tagging metrics against the ``tags`` column, per prompt language."""
    vocab = list(vocab) if vocab else list(mtt_top50())
    col = {t: k for k, t in enumerate(vocab)}
    y = np.zeros((len(table), len(vocab)), dtype=bool)
    for i, tags in enumerate(table["tags"]):
        for t in tags if isinstance(tags, list | tuple | np.ndarray) else []:
            if t in col:
                y[i, col[t]] = True
    a = torch.nn.functional.normalize(audio.float(), dim=-1)
    out: dict = {"vocabulary": len(vocab), "ensemble": ensemble}
    for lang in langs:
        names = translate_tags(vocab, lang)
        prompts = model.prompt_embeddings(names, templates_for(lang, ensemble))
        s = (a @ prompts.T).numpy()
        rep = tagging_metrics(y, s, vocab, min_pos=min_pos)
        rep["all_tags"] = {k: v for k, v in tagging_metrics(y, s, vocab, min_pos=1).items()
                           if k != "per_tag"}
        rep["spread"] = text_spread(prompts)
        out[lang] = rep
    return out


def evaluate_split(model: MuLan, table: pd.DataFrame, split: str | None = "test",
                   vocab: Sequence[str] | None = None, langs: Sequence[str] | None = None,
                   min_pos: int = 20, ensemble: bool = False, batch: int = 16,
                   collapse_threshold: float = 0.98) -> dict:
    """Full report on one split of a manifest table (see the module docstring).

    Raises :class:`~lyrebird.mulan.zeroshot.EmbeddingCollapseError` when distinct prompts
    collapse onto one text embedding.
    """
    t = table if split is None else table[table["split"] == split]
    t = t.reset_index(drop=True)
    if t.empty:
        raise ValueError(f"manifest has no rows in split {split!r}")
    vocab = list(vocab) if vocab else list(mtt_top50())
    prompts = model.prompt_embeddings(vocab, templates_for("en"))
    spread = check_text_spread(prompts, [templates_for("en")[0].format(v) for v in vocab],
                               collapse_threshold)
    audio, ok = embed_clips(model, t, batch)
    if not ok.all():
        log.warning("%d of %d clips could not be decoded and are left out", (~ok).sum(), len(t))
    t, audio = t[ok].reset_index(drop=True), audio[torch.from_numpy(ok)]
    caps = _caption_table(t)
    langs = list(langs) if langs else [x for x in LANGS if x in set(caps["lang"])] or ["en"]
    report = {"split": split, "clips": len(t), "prompt_spread": spread,
              "retrieval": retrieval_report(model, audio, t, langs),
              "zeroshot": tag_report(model, audio, t, vocab, langs, ensemble, min_pos)}
    uniq = caps["text"].drop_duplicates()
    if len(uniq) >= 2:
        sample = uniq.sample(min(200, len(uniq)), random_state=0).tolist()
        report["caption_spread"] = text_spread(model.embed_text(sample))
    report["summary"] = summarize(report)
    return report


def summarize(report: dict) -> dict:
    """The headline numbers per language: text→music R@10 and zero-shot macro ROC-AUC, and
    each non-English language relative to English."""
    out: dict = {}
    t2m = report["retrieval"].get("text_to_music", {})
    zs = report["zeroshot"]
    for lang in [k for k in t2m if k != "all"]:
        out[lang] = {"t2m_R@10": t2m[lang]["R@10"],
                     "zeroshot_roc_auc": zs.get(lang, {}).get("roc_auc", float("nan")),
                     "zeroshot_pr_auc": zs.get(lang, {}).get("pr_auc", float("nan"))}
    if "en" in out:
        for lang, v in out.items():
            if lang != "en":
                v["t2m_R@10_rel_en"] = v["t2m_R@10"] / max(out["en"]["t2m_R@10"], 1e-9)
                v["zeroshot_roc_auc_rel_en"] = (v["zeroshot_roc_auc"]
                                                / max(out["en"]["zeroshot_roc_auc"], 1e-9))
    if "all" in t2m:
        out["all"] = {"t2m_R@10": t2m["all"]["R@10"]}
    return out


def format_report(report: dict) -> str:
    """A short human-readable table of :func:`evaluate_split`'s summary."""
    lines = [f"split {report['split']}: {report['clips']} clips, "
             f"{report['retrieval'].get('captions', 0)} captions"
             + (f", runtime {report['runtime']}" if report.get("runtime") else "")]
    lines.append(f"{'lang':<6}{'t2m R@1':>9}{'R@5':>7}{'R@10':>7}{'medR':>7}{'mAP':>7}"
                 f"{'m2t R@10':>10}{'ZS ROC':>8}{'ZS PR':>7}")
    t2m = report["retrieval"]["text_to_music"]
    m2t = report["retrieval"]["music_to_text"]
    zs = report["zeroshot"]
    for lang in [k for k in t2m if k != "all"] + ["all"]:
        r = t2m[lang]
        z = zs.get(lang, {})
        lines.append(f"{lang:<6}{r['R@1']:>9.3f}{r['R@5']:>7.3f}{r['R@10']:>7.3f}"
                     f"{r['median_rank']:>7.1f}{r['mAP']:>7.3f}"
                     f"{m2t.get(lang, {}).get('R@10', float('nan')):>10.3f}"
                     f"{z.get('roc_auc', float('nan')):>8.3f}{z.get('pr_auc', float('nan')):>7.3f}")
    en = zs.get("en", {})
    lines.append(f"zero-shot (en): {en.get('tags_evaluated', 0)} tags with >= "
                 f"{en.get('min_positives', 0)} positives; prompt spread mean cos "
                 f"{report['prompt_spread']['mean_cos']:.3f}")
    return "\n".join(lines)


# --------------------------------------------------------------------------- MagnaTagATune
def find_mtt_audio(mtt_dir: str | os.PathLike, rel: str) -> Path | None:
    """Where clip ``rel`` lives in a local MTT copy: ``DIR/<rel>`` (the unpacked ``mp3.zip``:
    folders ``0``–``f``) or ``DIR/mp3/<rel>``; ``None`` when absent."""
    d = Path(mtt_dir)
    for base in (d, d / "mp3", d / "mp3s", d / "audio"):
        p = base / rel
        if p.is_file():
            return p
    return None


def evaluate_mtt(model: MuLan, mtt_dir: str | os.PathLike, ensemble: bool = False,
                 template: str | None = None, batch: int = 8, min_found: int = 1) -> dict:
    """Zero-shot MTT tagging on the standard test split found under ``mtt_dir``.

    Every test clip (≈29 s) is embedded whole (10 s windows averaged); tag scores are cosines
    with the prompts ``template.format(tag)`` (default ``"A {} track"``) or the English prompt
    ensemble. Macro ROC-AUC and PR-AUC over the 50 tags (those with a positive and a negative
    among the clips found). Clips missing or undecodable are reported and left out.
    """
    d = Path(mtt_dir)
    if not d.is_dir():
        raise FileNotFoundError(f"--mtt-dir '{d}': no such directory")
    paths, labels = mtt_test_split()
    found = [(i, find_mtt_audio(d, p)) for i, p in enumerate(paths)]
    have = [(i, p) for i, p in found if p is not None]
    if len(have) < min_found:
        raise FileNotFoundError(
            f"'{d}': none of the {len(paths)} MTT test clips found (expected e.g. "
            f"'{d / paths[0]}' or '{d / 'mp3' / paths[0]}')")
    tags = list(mtt_top50())
    templates = [template] if template else templates_for("en", ensemble)
    prompts = model.prompt_embeddings(tags, templates)
    spread = check_text_spread(prompts, [templates[0].format(t) for t in tags])
    sr = model.audio.sample_rate
    emb, keep, bad = [], [], []
    for k in progress(range(0, len(have), batch), desc="MTT test clips"):
        wavs, idx = [], []
        for i, p in have[k : k + batch]:
            try:
                wavs.append(load_audio(p, sr))
                idx.append(i)
            except AudioError as e:
                bad.append({"path": paths[i], "reason": str(e)})
        if wavs:
            emb.append(model.embed_audio_batch(wavs, sr))
            keep += idx
    if not keep:
        raise ValueError(f"'{d}': no MTT test clip could be decoded; first errors: {bad[:3]}")
    a = torch.cat(emb)
    scores = (a @ prompts.T).numpy()
    rep = tagging_metrics(labels[keep], scores, tags, min_pos=1)
    rep.update({"clips_expected": len(paths), "clips_found": len(have),
                "clips_decoded": len(keep), "clips_missing": len(paths) - len(have),
                "undecodable": bad[:20], "templates": templates, "prompt_spread": spread})
    return rep
