"""``lyrebird eval real``: the real-music evaluation on a manifest split, model vs baselines.

Reads the manifest (or its labelled copy with ``teacher_probs``), embeds the split's tracks with
every model (cached under ``OUT/cache``), runs the five tasks of :mod:`.tasks` and writes
``results.json`` and ``report.md`` to ``OUT``.
"""

from __future__ import annotations

import json
import math
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from lyrebird.train.corpora.manifest import read_manifest, resolve_path
from lyrebird.train.realeval import tasks
from lyrebird.train.realeval.embed import Settings, Track, embed_tracks
from lyrebird.train.realeval.models import ModelSpec, parse_model
from lyrebird.train.realeval.teacher_peers import is_peer, parse_peer

TASK_TITLES = {
    "genre_zeroshot": "genuine-genre zero-shot",
    "genre_queries": "genre text queries",
    "same_artist": "similar tracks: same artist",
    "same_package": "similar tracks: same package",
    "excerpt_id": "excerpt identification",
    "teacher_agreement": "teacher agreement (not ground truth)",
}


def run_real_eval(manifest: str | Path, model: str | ModelSpec = "default",
                  baselines: Sequence[str | ModelSpec] = ("random-tower", "logmel"),
                  split: str | None = "test", out: str | Path | None = None,
                  settings: Settings = Settings(), seed: int = 0, n_boot: int = 1000,
                  teacher: str = "MTT_musicnn", min_pos: int = 5,
                  device: str = "cpu", min_rel: int = 5) -> dict[str, Any]:
    """Evaluate ``model`` against ``baselines`` on ``split`` of ``manifest``; see the module.

    A baseline spec may also name a musicnn tag peer (``teacher-keyword[:<text model>]``,
    ``teacher-vector``; :mod:`.teacher_peers`); ``teacher-keyword`` uses the text tower of the
    model under test unless it names one. Genre tags (zero-shot) need ``min_pos`` positive and
    negative tracks, genre queries ``min_rel`` relevant tracks.
    """
    df = read_manifest(manifest)
    if split is not None:
        if "split" not in df.columns:
            raise ValueError(f"{manifest}: no 'split' column; pass split=None for every row")
        df = df[df["split"] == split]
    if len(df) < 2:
        raise ValueError(f"{manifest}: split {split!r} has {len(df)} tracks; need at least 2")
    rows = df.to_dict("records")
    tracks = [Track(resolve_path(manifest, r["path"]), float(r.get("start_s") or 0.0),
                    None if r.get("end_s") is None or (isinstance(r.get("end_s"), float)
                                                       and math.isnan(r["end_s"]))
                    else float(r["end_s"]),
                    seed * 1_000_003 + zlib.crc32(str(r["path"]).encode()))
              for r in rows]
    main = model if isinstance(model, ModelSpec) else parse_model(model, device)
    specs = [main] + [s if isinstance(s, ModelSpec) else
                      parse_peer(s, main.model, device) if is_peer(s) else parse_model(s, device)
                      for s in baselines]
    names = [s.name for s in specs]
    if len(set(names)) != len(names):
        raise ValueError(f"two compared models share a name: {names}")
    out = Path(out) if out is not None else None
    cache = out / "cache" if out is not None else None
    queries: dict[int, Any] = {}
    vecs = []
    for s in specs:
        v = embed_tracks(s, tracks, settings, cache, queries)
        prepare = getattr(s.model, "prepare_vectors", None)  # e.g. centred tag logits
        vecs.append(prepare(v) if prepare is not None else
                    v if s.has_text else v.standardised())
    hours = sum((t.end_s or 0.0) - t.start_s for t in tracks) / 3600
    rep: dict[str, Any] = {
        "manifest": str(manifest), "split": split, "n_tracks": len(rows), "hours": hours,
        "settings": {"segment_s": settings.segment_s, "hop_s": settings.hop_s,
                     "excerpt_s": settings.excerpt_s, "snr_db": settings.snr_db,
                     "codec": "ogg/vorbis" if settings.codec else None, "seed": seed,
                     "n_boot": n_boot},
        "models": [{"name": s.name, "key": s.key, "note": s.note, "has_text": s.has_text}
                   for s in specs],
        "tasks": {},
    }
    if specs[0].has_text:  # text tasks compare against the model under test
        rep["tasks"]["genre_zeroshot"] = tasks.genre_zeroshot(rows, specs, vecs, min_pos,
                                                              teacher, n_boot)
        rep["tasks"]["genre_queries"] = tasks.genre_queries(rows, specs, vecs, 10, n_boot,
                                                            min_rel)
    rep["tasks"]["same_artist"] = tasks.similar_tracks(rows, specs, vecs, "artist", 5, n_boot)
    rep["tasks"]["same_package"] = tasks.similar_tracks(rows, specs, vecs, "package", 5, n_boot)
    rep["tasks"]["excerpt_id"] = tasks.excerpt_id(specs, vecs, n_boot)
    if specs[0].has_text:
        rep["tasks"]["teacher_agreement"] = tasks.teacher_agreement(rows, specs, vecs, teacher,
                                                                    0.5, min_pos, n_boot)
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        (out / "results.json").write_text(json.dumps(rep, indent=2, default=str) + "\n")
        (out / "report.md").write_text(format_markdown(rep))
    return rep


def _f(x: Any) -> str:
    return "—" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.3f}"


def _rows(rep: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    names = [m["name"] for m in rep["models"]]
    head = ["task", "metric", "tracks/queries", *names, "teacher", "target", "met"]
    body = []
    for key, t in rep["tasks"].items():
        r = t.get("results", {})
        main = r.get(names[0])
        target = t.get("target")
        met = "—" if target is None or main is None else ("yes" if main >= target else "NO")
        tt = t.get("teacher") if isinstance(t.get("teacher"), dict) else None
        teach = (f"{_f(tt['teacher'])} ({len(tt['tags'])} tags; model {_f(tt['model'])})"
                 if tt else "—")
        cnt = f"{t.get('n_tracks', '—')}/{t.get('n_queries', '—')}"
        body.append([TASK_TITLES[key], t["metric"], cnt, *[_f(r.get(n)) for n in names], teach,
                     _f(target), met])
        for lang, _ in t.get("by_lang", {}).get(names[0], {}).items():
            v = [_f(t["by_lang"].get(n, {}).get(lang)) for n in names]
            m = t["by_lang"][names[0]][lang]
            body.append([f"  queries ({lang})", t["metric"], "", *v, "—", _f(target),
                         "yes" if m >= target else "NO"])
        for q, _ in t.get("by_query", {}).get(names[0], {}).items():
            v = [_f(t["by_query"].get(n, {}).get(q)) for n in names]
            m = t["by_query"][names[0]][q]
            body.append([f"  query: {q}", t["metric"], str(t["queries"][q]), *v, "—",
                         _f(target), "yes" if m >= target else "NO"])
    return head, body


def _diffs(rep: dict[str, Any]) -> list[str]:
    names = [m["name"] for m in rep["models"]]
    out = []
    for key, t in rep["tasks"].items():
        for base, c in t.get("compare", {}).items():
            out.append(f"{TASK_TITLES[key]}: {names[0]} − {base} = {c['diff']:+.3f} "
                       f"[{c['ci_low']:+.3f}, {c['ci_high']:+.3f}] (n={c['n_test']})")
        tt = t.get("teacher")
        if isinstance(tt, dict):
            c = tt["compare"]
            out.append(f"{TASK_TITLES[key]} on MTT tags {tt['tags']}: {names[0]} "
                       f"{_f(tt['model'])} − {tt['name']} {_f(tt['teacher'])} = "
                       f"{c['diff']:+.3f} [{c['ci_low']:+.3f}, {c['ci_high']:+.3f}]")
    return out


def format_table(rep: dict[str, Any]) -> str:
    """The results as a plain-text table, the bootstrap differences and the notes."""
    head, body = _rows(rep)
    w = [max(len(x[i]) for x in [head, *body]) for i in range(len(head))]
    line = lambda cells: "  ".join(c.ljust(w[i]) for i, c in enumerate(cells))  # noqa: E731
    lines = [f"{rep['manifest']} split={rep['split']}: {rep['n_tracks']} tracks, "
             f"{rep['hours']:.1f} h", line(head), line(["-" * x for x in w])]
    lines += [line(b) for b in body]
    lines += ["", "paired bootstrap, 95 % intervals:", *[f"  {d}" for d in _diffs(rep)], ""]
    lines += [f"{TASK_TITLES[k]}: {t['note']}" for k, t in rep["tasks"].items() if t.get("note")]
    lines += [f"{m['name']}: {m['note']}" for m in rep["models"] if m["note"]]
    return "\n".join(lines)


def format_markdown(rep: dict[str, Any]) -> str:
    """``report.md``: the table in Markdown, the differences and the notes."""
    head, body = _rows(rep)
    md = [f"# Real-music evaluation: {rep['manifest']} ({rep['split']})", "",
          f"{rep['n_tracks']} tracks, {rep['hours']:.1f} h.", "",
          "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    md += ["| " + " | ".join(b) + " |" for b in body]
    md += ["", "Paired bootstrap (model − baseline), 95 % intervals:", ""]
    md += [f"- {d}" for d in _diffs(rep)] + [""]
    md += [f"- {TASK_TITLES[k]}: {t['note']}" for k, t in rep["tasks"].items() if t.get("note")]
    md += [f"- {m['name']}: {m['note']}" for m in rep["models"] if m["note"]]
    return "\n".join(md) + "\n"


__all__ = ["format_markdown", "format_table", "run_real_eval"]
