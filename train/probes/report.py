"""Write a probe run as ``report.md``, a self-contained ``report.html`` (plots inlined as
base64 PNG), ``results.csv``, ``results.json`` and ``plots/*.png``.

Plots (matplotlib, Agg): per-task bars of every extractor (colour = encoder, random-init or
hand-crafted baseline), layer-wise
curves, and t-SNE (scikit-learn) of each extractor's test embeddings coloured by label.
"""

from __future__ import annotations

import base64
import html
import json
import os
from pathlib import Path

import numpy as np
import pandas as pd

from .run import ProbeRun

_COLORS = {"encoder": "#1f77b4", "random-init": "#ff7f0e", "hand-crafted": "#7f7f7f"}


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _bars(run: ProbeRun, task: str, path: Path) -> None:
    plt = _plt()
    rows = [r for r in run.rows if r["task"] == task]
    fig, ax = plt.subplots(figsize=(6.4, 0.45 * len(rows) + 1.2))
    names = [r["extractor"] for r in rows]
    ax.barh(names, [r["score"] for r in rows], color=[_COLORS[r["role"]] for r in rows])
    from matplotlib.patches import Patch

    ax.legend(handles=[Patch(color=c, label=k) for k, c in _COLORS.items()], fontsize=7,
              loc="lower right")
    for i, r in enumerate(rows):
        ax.text(r["score"], i, f" {r['score']:.3f}", va="center", fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel(f"test {rows[0]['metric']}")
    ax.set_title(f"{task} ({rows[0]['protocol']} grid)")
    ax.set_xlim(min(0.0, *[r["score"] for r in rows]), 1.1)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def _layers(run: ProbeRun, task: str, path: Path) -> None:
    plt = _plt()
    df = pd.DataFrame([r for r in run.layer_rows if r["task"] == task])
    fig, ax = plt.subplots(figsize=(5.6, 3.4))
    for name, g in df.groupby("extractor", sort=False):
        ax.plot(g["layer"], g["score"], marker="o", label=name,
                color=_COLORS[g["role"].iloc[0]] if g["role"].iloc[0] != "encoder" else None)
    ax.set_xlabel("layer (0 = token input)")
    ax.set_ylabel(f"test {df['metric'].iloc[0]}")
    ax.set_title(f"{task}: layer-wise (MARBLE MLP)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def _tsne(run: ProbeRun, task: str, path: Path) -> None:
    from sklearn.manifold import TSNE

    plt = _plt()
    panels = run.tsne[task]
    fig, axes = plt.subplots(1, len(panels), figsize=(3.2 * len(panels), 3.3), squeeze=False)
    for ax, (name, (x, y)) in zip(axes[0], panels.items(), strict=True):
        x = (x - x.mean(0)) / (x.std(0) + 1e-6)
        z = TSNE(2, perplexity=min(30.0, max(2.0, (len(x) - 1) / 3)), init="pca",
                 random_state=0).fit_transform(x)
        ax.scatter(z[:, 0], z[:, 1], c=y, cmap="tab20", s=6)
        ax.set_title(name, fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(f"{task}: t-SNE of test embeddings, coloured by label", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def _md_table(df: pd.DataFrame) -> str:
    cols = list(df.columns)
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for _, r in df.iterrows():
        lines.append("| " + " | ".join(_fmt(r[c]) for c in cols) + " |")
    return "\n".join(lines)


def _fmt(v) -> str:
    if isinstance(v, float):
        return "" if np.isnan(v) else f"{v:.3f}"
    return str(v)


def _html_table(df: pd.DataFrame) -> str:
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in df.columns)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(_fmt(r[c]))}</td>" for c in df.columns)
                   + "</tr>" for _, r in df.iterrows())
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def summary_table(run: ProbeRun) -> pd.DataFrame:
    """Extractors × tasks, test primary metric."""
    df = pd.DataFrame(run.rows)
    t = df.pivot_table(index=["extractor", "role"], columns="task", values="score", sort=False)
    return t.reset_index()


def write_report(run: ProbeRun, out: str | os.PathLike, title: str = "Lyrebird probe report"
                 ) -> dict[str, Path]:
    """Write every report file under ``out``; returns their paths by kind."""
    out = Path(out)
    (out / "plots").mkdir(parents=True, exist_ok=True)
    df = pd.DataFrame(run.rows)
    flat = df.assign(best_config=[json.dumps(c) for c in df["best_config"]]) if len(df) else df
    flat.to_csv(out / "results.csv", index=False)
    (out / "results.json").write_text(json.dumps({
        "rows": run.rows, "layers": run.layer_rows, "tasks": run.tasks, "errors": run.errors,
        "hardware": run.hardware, "seconds": run.seconds, "options": run.options,
        "comparisons": run.comparisons},
        indent=1, default=str))
    sections: list[tuple[str, str, list[Path]]] = []  # (heading, markdown body, images)
    h = run.hardware
    opts = run.options
    sections.append(("Run", "\n".join([
        f"- total time: **{run.seconds / 60:.1f} min** ({run.seconds:.0f} s)",
        f"- hardware: {h.get('cpu')}, {h.get('cores')} cores, torch {h.get('torch')} "
        f"({h.get('torch_threads')} threads), bf16 probe matmuls: {h.get('bf16_probes')}",
        f"- protocol: `{opts.get('grid')}` grid ({opts.get('n_configs')} configurations) on the "
        f"main embedding, early stopping on the validation metric (patience "
        f"{opts.get('patience')}, at most {opts.get('max_epochs')} epochs, successive halving "
        f"{'on' if opts.get('halving') else 'off'}), best-on-validation "
        f"configuration scored once on test; layer-wise: one MARBLE-style MLP per layer",
        *[f"- **error**: {e}" for e in run.errors]]), []))
    if len(df):
        sections.append(("Summary (test, primary metric per task)", _md_table(
            summary_table(run)), []))
        for task, g in df.groupby("task", sort=False):
            img = out / "plots" / f"{task}_bars.png"
            _bars(run, task, img)
            cols = ["extractor", "role"] + [c for c in g.columns if c.startswith("test_")
                                            and g[c].notna().any()]
            cols += ["valid", "best_epoch", "dim", "grid_s", "extract_s"]
            best = g[["extractor", "best_config"]].assign(best_config=[
                ", ".join(f"{k}={v}" for k, v in c.items()) for c in g["best_config"]])
            info = run.tasks.get(task, {})
            body = (f"{info.get('kind')} task from `{info.get('source')}`; "
                    f"train/valid/test = {g['n_train'].iloc[0]}/{g['n_valid'].iloc[0]}/"
                    f"{g['n_test'].iloc[0]} clips; ranked by **{g['metric'].iloc[0]}**.\n\n"
                    + _md_table(g[cols]) + "\n\nBest configurations:\n\n" + _md_table(best))
            imgs = [img]
            if run.tsne.get(task):
                timg = out / "plots" / f"{task}_tsne.png"
                _tsne(run, task, timg)
                imgs.append(timg)
            sections.append((f"Task: {task}", body, imgs))
    if run.comparisons:
        cmp = pd.DataFrame(run.comparisons)
        cmp["95% interval"] = [f"[{a:+.3f}, {b:+.3f}]" for a, b in zip(cmp["ci_low"],
                                                                      cmp["ci_high"], strict=True)]
        cmp = cmp[["encoder", "baseline", "task", "metric", "diff", "95% interval",
                   "p_not_better", "n_test"]]
        sections.append(("Encoder vs its random-init twin (paired bootstrap)",
                         "Test-metric difference (encoder minus twin) on the same test clips, "
                         f"with a 95 % percentile interval over {run.comparisons[0]['n_boot']} "
                         "resamples of those clips; `p_not_better` is the share of resamples "
                         "where the encoder does not beat its twin. An interval that "
                         "straddles 0 is a tie at this test-set size.\n\n" + _md_table(cmp), []))
    if run.layer_rows:
        ldf = pd.DataFrame(run.layer_rows)
        imgs = []
        for task in ldf["task"].unique():
            img = out / "plots" / f"{task}_layers.png"
            _layers(run, task, img)
            imgs.append(img)
        piv = ldf.pivot_table(index=["extractor", "task"], columns="layer", values="score",
                              sort=False).reset_index()
        piv.columns = [f"layer {c}" if isinstance(c, int | np.integer) else c for c in piv.columns]
        sections.append(("Layer-wise probing (test, MARBLE MLP per layer)", _md_table(piv), imgs))
    if len(df):
        timing = df.groupby("extractor", sort=False)[["extract_s", "grid_s"]].sum().reset_index()
        if run.layer_rows:
            lt = pd.DataFrame(run.layer_rows).groupby("extractor")["grid_s"].sum()
            timing["layers_s"] = [float(lt.get(e, 0.0)) for e in timing["extractor"]]
        sections.append(("Time per extractor (s: feature extraction, main grid, layer probes)",
                         _md_table(timing), []))
    md = [f"# {title}", ""]
    parts = [f"<h1>{html.escape(title)}</h1>"]
    for head, body, imgs in sections:
        md += [f"## {head}", "", body, ""] + [f"![{p.stem}](plots/{p.name})" for p in imgs] + [""]
        parts.append(f"<h2>{html.escape(head)}</h2>")
        for block in body.split("\n\n"):
            if block.startswith("|"):
                rows = [r.strip("|").split("|") for r in block.splitlines() if r.strip()]
                parts.append(_html_table(pd.DataFrame([[c.strip() for c in r] for r in rows[2:]],
                                                      columns=[c.strip() for c in rows[0]])))
            else:
                parts.append("<p>" + html.escape(block).replace("\n", "<br>") + "</p>")
        for p in imgs:
            b64 = base64.b64encode(p.read_bytes()).decode()
            parts.append(f'<img alt="{p.stem}" src="data:image/png;base64,{b64}">')
    (out / "report.md").write_text("\n".join(md))
    style = ("body{font-family:sans-serif;max-width:1100px;margin:auto}table{border-collapse:"
             "collapse;font-size:12px;margin:8px 0}td,th{border:1px solid #ccc;padding:2px 6px}"
             "img{max-width:100%;display:block;margin:8px 0}")
    (out / "report.html").write_text(f"<!doctype html><html><head><meta charset='utf-8'><title>"
                                     f"{html.escape(title)}</title><style>{style}</style></head>"
                                     f"<body>{''.join(parts)}</body></html>")
    return {k: out / f for k, f in (("md", "report.md"), ("html", "report.html"),
                                    ("csv", "results.csv"), ("json", "results.json"))}
