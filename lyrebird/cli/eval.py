"""``lyrebird eval <what>``: evaluation reports (MuLan on a manifest, zero-shot MTT)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from lyrebird.cli import main
from lyrebird.cli._common import emit, json_option
from lyrebird.mulan.vocabulary import DEFAULT_TEMPLATE


@main.group("eval")
def eval_group() -> None:
    """Evaluate models: MuLan retrieval and zero-shot tagging."""


def _load_mulan(model: str):
    from lyrebird.mulan import MuLan

    try:
        return MuLan.load(model)
    except (ValueError, FileNotFoundError, ImportError) as e:
        raise click.ClickException(str(e)) from e


def _fail_on_collapse(fn):
    from lyrebird.mulan import EmbeddingCollapseError

    try:
        return fn()
    except EmbeddingCollapseError as e:
        raise click.ClickException(str(e)) from e


@eval_group.command("mulan")
@click.option("--manifest", required=True, type=click.Path(exists=True, dir_okay=False,
                                                           path_type=Path),
              help="Manifest (parquet/CSV) with captions and tags.")
@click.option("--model", default="default", show_default=True,
              help="MuLan checkpoint directory or shipped name.")
@click.option("--split", default="test", show_default=True,
              help="Split to evaluate ('all' for every row).")
@click.option("--langs", default=None, help="Caption languages, e.g. en,de (default: all).")
@click.option("--min-pos", default=20, show_default=True,
              help="Tags need this many positives to enter the zero-shot macro average.")
@click.option("--vocab", default="mtt", show_default=True,
              help="Zero-shot vocabulary: 'mtt' (top-50) or a comma-separated tag list.")
@click.option("--ensemble", is_flag=True, help="Use the prompt ensemble instead of one prompt.")
@click.option("--batch", default=16, show_default=True, help="Clips per embedding batch.")
@click.option("--out", "out_file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also write the full JSON report here.")
@json_option
def eval_mulan(manifest: Path, model: str, split: str, langs: str | None, min_pos: int,
               vocab: str, ensemble: bool, batch: int, out_file: Path | None,
               as_json: bool) -> None:
    """Text→music / music→text retrieval and zero-shot tagging on a manifest split."""
    from lyrebird.mulan.evaluate import evaluate_split, format_report
    from lyrebird.train.corpora.manifest import ManifestError, read_manifest, resolve_path

    try:
        df = read_manifest(manifest)
    except ManifestError as e:
        raise click.ClickException(str(e)) from e
    for col in ("path", "split", "captions", "tags"):
        if col not in df.columns:
            raise click.ClickException(f"'{manifest}': manifest has no '{col}' column")
    df["path"] = [str(resolve_path(manifest, p)) for p in df["path"]]
    m = _load_mulan(model)
    tags = None if vocab == "mtt" else [t.strip() for t in vocab.split(",") if t.strip()]
    lang_list = [x.strip() for x in langs.split(",")] if langs else None
    try:
        rep = _fail_on_collapse(lambda: evaluate_split(
            m, df, None if split == "all" else split, tags, lang_list, min_pos, ensemble, batch))
    except ValueError as e:
        raise click.ClickException(str(e)) from e
    rep["model"] = model
    rep["manifest"] = str(manifest)
    if out_file:
        out_file.parent.mkdir(parents=True, exist_ok=True)
        out_file.write_text(json.dumps(rep, indent=2, default=str) + "\n")
    emit(rep, as_json, format_report(rep))


@eval_group.command("zeroshot-mtt")
@click.option("--mtt-dir", required=True, type=click.Path(exists=True, file_okay=False,
                                                          path_type=Path),
              help="Local MagnaTagATune copy (the unpacked mp3 folders 0-f, or DIR/mp3/0-f).")
@click.option("--model", default="default", show_default=True,
              help="MuLan checkpoint directory or shipped name.")
@click.option("--template", default=None, help=f"Prompt template (default {DEFAULT_TEMPLATE!r}).")
@click.option("--ensemble", is_flag=True, help="Use the English prompt ensemble.")
@click.option("--batch", default=8, show_default=True, help="Clips per embedding batch.")
@json_option
def eval_zeroshot_mtt(mtt_dir: Path, model: str, template: str | None, ensemble: bool,
                      batch: int, as_json: bool) -> None:
    """Zero-shot MTT tagging: standard test split, macro ROC-AUC and PR-AUC over 50 tags."""
    from lyrebird.mulan.evaluate import evaluate_mtt

    if template is not None and "{}" not in template:
        raise click.BadParameter("must contain '{}' where the tag goes", param_hint="--template")
    m = _load_mulan(model)
    try:
        rep = _fail_on_collapse(lambda: evaluate_mtt(m, mtt_dir, ensemble, template, batch))
    except (FileNotFoundError, ValueError) as e:
        raise click.ClickException(str(e)) from e
    rep["model"] = model
    human = (f"MTT zero-shot ({rep['clips_decoded']}/{rep['clips_expected']} test clips, "
             f"{rep['tags_evaluated']} tags): ROC-AUC {rep['roc_auc']:.4f}  "
             f"PR-AUC {rep['pr_auc']:.4f}")
    if rep["clips_missing"]:
        print(f"warning: {rep['clips_missing']} test clips not found under {mtt_dir}",
              file=sys.stderr)
    emit(rep, as_json, human)
