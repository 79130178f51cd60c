"""MuLan training data: the manifest's clips as training items, and the frozen-tower cache.

Every clip is cut into ``window_s`` windows (the demo corpus' 10 s clips are one window each);
each window is a training item whose texts are its clip's captions (all languages) plus keyword
captions composed from its tags ("Tags: piano", "Schlagwörter: Klavier, langsam", …; see
:data:`KEYWORD_TEMPLATES`, distinct from the zero-shot prompt templates).

Frozen towers are run once: audio encoder frames (or their time average when the audio tower
has no transformer layers) and text-backbone token states are cached as fp16 under
``<manifest dir>/.cache/mulan-audio-<key>/`` and ``mulan-text-<key>/``, keyed by the manifest,
the encoder weights or text backbone, and the tower settings.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from lyrebird.core.atomic import replaced_on_success
from lyrebird.core.progress import progress
from lyrebird.encoders import AudioError, chunk, load_audio
from lyrebird.mulan.config import MuLanConfig
from lyrebird.mulan.model import MuLan
from lyrebird.mulan.zeroshot import (
    mtt_top50,
    translate_tags,
)
from lyrebird.train.corpora.manifest import read_manifest, resolve_path

log = logging.getLogger("lyrebird.train")

CACHE_VERSION = 2  # 2: a long clip's windows are spread over the clip, not its first minute


@dataclass(frozen=True)
class MuLanDataConfig:
    """How captions are drawn for training.

    Attributes:
        tag_caption_p: probability that an item's text is a keyword caption made from its
            tags instead of one of its captions (0 disables).
        tag_vocab: ``"mtt"`` (the top-50 vocabulary, translatable) or ``"all"`` (every tag).
        max_windows: windows per clip at most; a longer clip's windows are spread evenly
            over it (first and last window at its ends), so a track is not judged by its intro.
        teacher: teacher whose MTT top-50 probabilities (``teacher_probs`` column, from
            ``lyrebird teach``) are the targets of the auxiliary tag loss; ``None`` = no targets.
        teacher_weight: weight of that auxiliary loss (binary cross-entropy of a linear
            probe on the normalised audio embedding; 0 = off). Items without targets (e.g. the
            demo corpus) only take the contrastive loss.
    """

    tag_caption_p: float = 0.25
    tag_vocab: str = "mtt"
    max_windows: int = 6
    teacher: str | None = "MTT_musicnn"
    teacher_weight: float = 0.0


def window_offsets(start_s: float, total_s: float, window_s: float, max_windows: int
                   ) -> list[tuple[float, float]]:
    """``(offset_s, dur_s)`` of the training windows of a clip of ``total_s`` seconds.

    Up to ``max_windows`` windows of ``window_s``: back to back when they cover the clip,
    otherwise spread evenly from its start to its end.
    """
    n_all = max(1, int(np.ceil(total_s / window_s - 1e-6)))
    if n_all <= max_windows:
        return [(start_s + k * window_s, min(window_s, total_s - k * window_s))
                for k in range(n_all)]
    step = (total_s - window_s) / max(1, max_windows - 1)
    return [(start_s + k * step, window_s) for k in range(max_windows)]


def teacher_targets(cell: object, teacher: str | None) -> np.ndarray | None:
    """``(50,)`` float32 MTT top-50 probabilities of ``teacher`` in a ``teacher_probs`` cell
    (standard tag order), or ``None`` when the cell has no complete set for it."""
    if teacher is None:
        return None
    from lyrebird.train.teachers.annotate import parse_teacher_probs

    probs = parse_teacher_probs(cell).get(teacher, {})
    tags = mtt_top50()
    if not all(t in probs for t in tags):
        return None
    return np.array([probs[t] for t in tags], dtype=np.float32)


# --------------------------------------------------------------------------- captions
KEYWORD_TEMPLATES: dict[str, tuple[str, ...]] = {
    "en": ("Tags: {}", "{}", "Keywords: {}"),
    "de": ("Schlagwörter: {}", "{}", "Stichworte: {}"),
    "fr": ("Mots-clés : {}", "{}", "Étiquettes : {}"),
    "es": ("Etiquetas: {}", "{}", "Palabras clave: {}"),
}
"""Templates of keyword captions. Deliberately not the zero-shot prompt templates
(``lyrebird.mulan.zeroshot.TEMPLATES``), so evaluation prompts stay unseen in training."""


def keyword_captions(tags: list[str], key: str, vocab: str = "mtt") -> list[dict[str, str]]:
    """Deterministic keyword captions from a clip's tags, in en/de/fr/es.

    Per language: each tag alone (template fixed per tag and language, so these texts are
    shared across clips), plus one list of two or three tags (seeded by ``key``). MTT tags
    are translated; other tags stay as they are.
    """
    pool = [t for t in tags if t in set(mtt_top50())] if vocab == "mtt" else list(tags)
    if not pool:
        return []
    rng = np.random.default_rng(zlib.crc32(key.encode()))
    out = []
    for lang, tpls in KEYWORD_TEMPLATES.items():
        words = translate_tags(pool, lang)
        for t, w in zip(pool, words, strict=True):
            out.append({"lang": lang, "text": tpls[zlib.crc32(f"{t}/{lang}".encode()) % len(tpls)]
                        .format(w)})
        if len(pool) >= 2:
            k = int(rng.integers(2, min(3, len(pool)) + 1))
            pick = rng.choice(len(pool), size=k, replace=False)
            out.append({"lang": lang, "text": tpls[int(rng.integers(len(tpls)))].format(
                ", ".join(words[i] for i in pick))})
    return out


def load_items(manifest: str | os.PathLike, cfg: MuLanConfig, data: MuLanDataConfig
               ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Manifest → ``(items, texts)``.

    ``items``: one row per window (``path``, ``offset_s``, ``dur_s``, ``split``, ``work``,
    ``caps`` = caption text ids, ``tagcaps`` = keyword caption ids, ``teacher`` = ``(50,)``
    teacher targets or ``None``). ``texts``: unique texts (``text``, ``lang``, ``keyword``).
    """
    df = read_manifest(manifest)
    for col in ("path", "split", "captions"):
        if col not in df.columns:
            raise ValueError(f"'{manifest}': manifest has no '{col}' column")
    texts: dict[str, int] = {}
    tmeta: list[dict] = []

    def tid(c: dict, keyword: bool) -> int:
        t = str(c["text"])
        if t not in texts:
            texts[t] = len(tmeta)
            tmeta.append({"text": t, "lang": str(c.get("lang", "")), "keyword": keyword})
        return texts[t]

    rows = []
    w = cfg.audio.window_s
    for i, r in enumerate(df.to_dict("records")):
        caps = [tid(c, False) for c in (r.get("captions") or [])]
        tags = list(r.get("tags") or [])
        kw = ([tid(c, True) for c in keyword_captions(tags, f"{r.get('work_id')}/{i}",
                                                       data.tag_vocab)]
              if data.tag_caption_p > 0 else [])
        if not caps and not kw:
            continue
        start = float(r.get("start_s") or 0.0)
        end = r.get("end_s")
        total = (float(end) - start) if end is not None and not pd.isna(end) else w
        target = teacher_targets(r.get("teacher_probs"), data.teacher)
        for off, dur in window_offsets(start, total, w, data.max_windows):
            rows.append({"row": i, "path": str(resolve_path(manifest, r["path"])),
                         "offset_s": off, "dur_s": dur,
                         "split": r["split"], "work": str(r.get("work_id", i)),
                         "caps": caps, "tagcaps": kw, "teacher": target})
    if not rows:
        raise ValueError(f"'{manifest}': no clip has captions or tags to train on")
    return pd.DataFrame(rows), pd.DataFrame(tmeta)


# --------------------------------------------------------------------------- feature cache
class Ragged:
    """Variable-length fp16 rows stored in one memmap: item ``i`` is ``(n_i, D)``."""

    def __init__(self, path: Path):
        meta = json.loads((path.with_suffix(".json")).read_text())
        self.offsets = np.asarray(meta["offsets"], dtype=np.int64)
        self.counts = np.asarray(meta["counts"], dtype=np.int64)
        total = int(self.counts.sum())
        self.data = np.memmap(path, dtype=np.float16, mode="r", shape=(total, meta["dim"]))
        self.dim = int(meta["dim"])

    def __len__(self) -> int:
        return len(self.counts)

    def __getitem__(self, i: int) -> np.ndarray:
        o = self.offsets[i]
        return np.asarray(self.data[o : o + self.counts[i]], dtype=np.float32)

    @staticmethod
    def write(path: Path, chunks, order: np.ndarray | None = None) -> None:
        """Write an iterable of ``(n_i, D)`` arrays (atomically, then the index). With
        ``order``, the k-th array written is item ``order[k]``."""
        offsets, counts, dim, off = [], [], None, 0
        with replaced_on_success(path) as tmp, open(tmp, "wb") as f:
            for a in chunks:
                a = np.asarray(a, dtype=np.float16)
                dim = a.shape[1]
                f.write(a.tobytes())
                offsets.append(off)
                counts.append(len(a))
                off += len(a)
            f.flush()
            os.fsync(f.fileno())
        if order is not None:
            inv = np.empty(len(order), dtype=np.int64)
            inv[np.asarray(order)] = np.arange(len(order))
            offsets, counts = [offsets[k] for k in inv], [counts[k] for k in inv]
        with replaced_on_success(path.with_suffix(".json")) as tmp:
            Path(tmp).write_text(json.dumps(
                {"offsets": offsets, "counts": counts, "dim": int(dim or 0)}))


def cache_keys(manifest: Path, model: MuLan, data: MuLanDataConfig, encoder_fp: str,
                texts: list[str]) -> tuple[str, str]:
    """(audio key, text key): audio features depend on the manifest, the encoder weights and
    the audio settings; text features on the exact texts and the backbone settings."""
    st = manifest.stat()
    c = model.cfg
    src = [CACHE_VERSION, str(manifest.resolve()), st.st_size, st.st_mtime_ns]
    audio = [*src, encoder_fp, c.audio.layers, c.audio.layer_mode, c.audio.window_s,
             c.audio.n_layers > 0, data.max_windows]
    if c.audio.n_layers == 0 and c.audio.pooling != "mean":  # pooled features are cached
        audio.append(c.audio.pooling)
    text = [CACHE_VERSION, hashlib.sha1("\n".join(texts).encode()).hexdigest(),
            c.text.backbone, model.text.backbone.prefix, c.text.max_length, c.text.n_layers > 0]
    h = [hashlib.sha1(json.dumps(k, default=str).encode()).hexdigest()[:12] for k in (audio, text)]
    return h[0], h[1]


@torch.no_grad()
def build_feature_cache(model: MuLan, items: pd.DataFrame, texts: pd.DataFrame,
                        audio_dir: Path, text_dir: Path, batch: int = 16
                        ) -> dict[str, Ragged | None]:
    """Run the frozen towers once over every window and text; reuse complete caches."""
    out: dict[str, Ragged | None] = {"audio": None, "text": None}
    model.eval()
    if not model.cfg.audio.train_encoder:
        audio_dir.mkdir(parents=True, exist_ok=True)
        p = audio_dir / "audio.f16"
        if not p.with_suffix(".json").is_file():
            pooled = model.cfg.audio.n_layers == 0
            sr, win = model.audio.sample_rate, model.audio.window

            def audio_chunks():
                recs = items.to_dict("records")
                for i in progress(range(0, len(recs), batch), desc="caching audio features"):
                    wavs, valid = [], []
                    for r in recs[i : i + batch]:
                        try:
                            x = load_audio(r["path"], sr, offset_s=r["offset_s"],
                                           duration_s=r["dur_s"])
                        except AudioError as e:
                            log.warning("unreadable window (zeros used): %s", e)
                            x = np.zeros(1, np.float32)
                        c = chunk(x[:win], sr, model.cfg.audio.window_s, last="pad")
                        wavs.append(c.audio[0])
                        valid.append(int(c.valid[0]))
                    f, m = model.audio.frames(torch.from_numpy(np.stack(wavs)),
                                              torch.tensor(valid))
                    for k in range(len(wavs)):
                        fk = (model.audio.pool(f[k : k + 1], m[k : k + 1]) if pooled
                              else f[k][m[k]])
                        yield fk.cpu().numpy()

            Ragged.write(p, audio_chunks())
        out["audio"] = Ragged(p)
    if not model.cfg.text.train_backbone:
        text_dir.mkdir(parents=True, exist_ok=True)
        p = text_dir / "text.f16"
        if not p.with_suffix(".json").is_file():
            pooled = model.cfg.text.n_layers == 0

            order = np.argsort([len(t) for t in texts["text"]], kind="stable")
            tl = [texts["text"].iloc[k] for k in order]  # similar lengths batch together

            def text_chunks():
                for i in progress(range(0, len(tl), 128), desc="caching text features"):
                    s, m = model.text.states(tl[i : i + 128])
                    for k in range(len(s)):
                        sk = s[k][m[k]].float()
                        yield (sk.mean(0, keepdim=True) if pooled else sk).cpu().numpy()

            Ragged.write(p, text_chunks(), order)
        out["text"] = Ragged(p)
    return out


# --------------------------------------------------------------------------- several manifests
class Remapped:
    """Rows of several caches under one index: row ``i`` is ``parts[src[i]][local[i]]``."""

    def __init__(self, parts: list[Ragged], src: list[int], local: list[int]):
        self.parts, self.src, self.local = parts, np.asarray(src), np.asarray(local)
        self.dim = parts[0].dim if parts else 0

    def __len__(self) -> int:
        return len(self.src)

    def __getitem__(self, i: int) -> np.ndarray:
        return self.parts[int(self.src[i])][int(self.local[i])]


def load_sources(manifests: list[Path], model: MuLan, data: MuLanDataConfig, encoder_fp: str,
                 cache_root: str | os.PathLike | None = None
                 ) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Remapped | None]]:
    """Train/valid items of several manifests as one table, with their frozen-tower features.

    Each manifest keeps its own feature caches (under ``cache_root`` or ``.cache`` next to it);
    texts are shared (one id per distinct text, so equal captions of two corpora are never
    each other's negatives); work ids are prefixed by the manifest's position.
    """
    tables, tmeta, gid = [], [], {}
    a_parts, a_src, a_local, t_parts, t_src, t_local = [], [], [], [], [], []
    for m, man in enumerate(manifests):
        items, texts = load_items(man, model.cfg, data)
        items = items[items["split"].isin(["train", "valid"])].reset_index(drop=True)
        root = Path(cache_root) if cache_root else Path(man).parent / ".cache"
        ka, kt = cache_keys(Path(man), model, data, encoder_fp, texts["text"].tolist())
        feats = build_feature_cache(model, items, texts, root / f"mulan-audio-{ka}",
                                    root / f"mulan-text-{kt}")
        remap = []
        for local, t in enumerate(texts.to_dict("records")):
            if t["text"] not in gid:
                gid[t["text"]] = len(tmeta)
                tmeta.append(t)
                t_src.append(m)
                t_local.append(local)
            remap.append(gid[t["text"]])
        items["caps"] = [[remap[k] for k in c] for c in items["caps"]]
        items["tagcaps"] = [[remap[k] for k in c] for c in items["tagcaps"]]
        items["work"] = [f"{m}:{w}" for w in items["work"]]
        items["source"] = str(man)
        a_parts.append(feats["audio"])
        t_parts.append(feats["text"])
        a_src += [m] * len(items)
        a_local += list(range(len(items)))
        tables.append(items)
    out: dict[str, Remapped | None] = {
        "audio": Remapped(a_parts, a_src, a_local) if a_parts[0] is not None else None,
        "text": Remapped(t_parts, t_src, t_local) if t_parts[0] is not None else None}
    return pd.concat(tables, ignore_index=True), pd.DataFrame(tmeta), out
