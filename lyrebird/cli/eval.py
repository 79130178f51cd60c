"""``lyrebird eval <what>``: evaluation reports (MuLan on a manifest, zero-shot MTT, real music)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from lyrebird.cli._common import emit, json_option, runtime_option, user_errors
from lyrebird.core.model_spec import SPEC_HELP


@click.group("eval")
def eval_group() -> None:
    """Evaluate models: MuLan retrieval and zero-shot tagging."""


def _errors() -> tuple[type[BaseException], ...]:
    """What a failed evaluation raises for a bad input or model (reported without a trace)."""
    from lyrebird.mulan import EmbeddingCollapseError

    return (ValueError, FileNotFoundError, ImportError, EmbeddingCollapseError)


@eval_group.command("mulan")
@click.option("--manifest", required=True, type=click.Path(exists=True, dir_okay=False,
                                                           path_type=Path),
              help="Manifest (parquet/CSV) with captions and tags.")
@click.option("--model", default="default", show_default=True,
              help=f"MuLan to evaluate: {SPEC_HELP}.")
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
@runtime_option()
@json_option
def eval_mulan(manifest: Path, model: str, split: str, langs: str | None, min_pos: int,
               vocab: str, ensemble: bool, batch: int, out_file: Path | None, runtime: str,
               as_json: bool) -> None:
    """Text→music / music→text retrieval and zero-shot tagging on a manifest split."""
    from lyrebird.mulan.evaluate import format_report
    from lyrebird.train.evaluation import evaluate_manifest

    tags = None if vocab == "mtt" else [t.strip() for t in vocab.split(",") if t.strip()]
    lang_list = [x.strip() for x in langs.split(",")] if langs else None
    with user_errors(*_errors()):
        rep = evaluate_manifest(manifest, model, None if split == "all" else split, tags,
                                lang_list, min_pos, ensemble, batch, runtime)
    if out_file:
        out_file.parent.mkdir(parents=True, exist_ok=True)
        out_file.write_text(json.dumps(rep, indent=2, default=str) + "\n")
    emit(rep, as_json, format_report(rep))


@eval_group.command("zeroshot-mtt")
@click.option("--mtt-dir", required=True, type=click.Path(exists=True, file_okay=False,
                                                          path_type=Path),
              help="Local MagnaTagATune copy (the unpacked mp3 folders 0-f, or DIR/mp3/0-f).")
@click.option("--model", default="default", show_default=True,
              help=f"MuLan to evaluate: {SPEC_HELP}.")
@click.option("--template", default=None,
              help="Prompt template, '{}' for the tag (default: the single standard prompt, "
                   "as in 'lyrebird tag').")
@click.option("--ensemble", is_flag=True, help="Use the English prompt ensemble.")
@click.option("--batch", default=8, show_default=True, help="Clips per embedding batch.")
@runtime_option()
@json_option
def eval_zeroshot_mtt(mtt_dir: Path, model: str, template: str | None, ensemble: bool,
                      batch: int, runtime: str, as_json: bool) -> None:
    """Zero-shot MTT tagging: standard test split, macro ROC-AUC and PR-AUC over 50 tags."""
    from lyrebird.train.evaluation import evaluate_mtt_folder

    if template is not None and "{}" not in template:
        raise click.BadParameter("must contain '{}' where the tag goes", param_hint="--template")
    with user_errors(*_errors()):
        rep = evaluate_mtt_folder(mtt_dir, model, template, ensemble, batch, runtime)
    human = (f"MTT zero-shot ({rep['clips_decoded']}/{rep['clips_expected']} test clips, "
             f"{rep['tags_evaluated']} tags): ROC-AUC {rep['roc_auc']:.4f}  "
             f"PR-AUC {rep['pr_auc']:.4f}")
    if rep["clips_missing"]:
        print(f"warning: {rep['clips_missing']} test clips not found under {mtt_dir}",
              file=sys.stderr)
    emit(rep, as_json, human)


@eval_group.command("real")
@click.option("--manifest", required=True, type=click.Path(exists=True, dir_okay=False,
                                                           path_type=Path),
              help="Real-music manifest (one row per track), or its labelled copy with "
                   "teacher_probs.")
@click.option("--model", default="default", show_default=True,
              help=f"Model under test: {SPEC_HELP}.")
@click.option("--baseline", "baselines", multiple=True,
              default=("random-tower", "logmel", "teacher-keyword", "teacher-vector"),
              show_default=True,
              help="Baseline (repeatable): 'random-tower' (= 'default?audio=random-init'), "
                   "'logmel' (= 'baseline:logmel'), the musicnn tag peers "
                   "'teacher-keyword[:TEXT MODEL]' (text tasks) and 'teacher-vector' (similar "
                   "tracks, excerpts), either of other teachers with '?teachers=A+B' (e.g. "
                   "'teacher-vector?teachers=MTT_musicnn+MSD_musicnn+MTT_vgg+MSD_vgg'), or "
                   f"{SPEC_HELP}, e.g. a retrained random-init twin's checkpoint folder.")
@click.option("--split", default="test", show_default=True,
              help="Split to evaluate ('all' for every row).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              default=None, help="Write results.json and report.md here; embeddings are "
                                 "cached under OUT/cache.")
@click.option("--seed", default=0, show_default=True, help="Excerpt and bootstrap seed.")
@click.option("--n-boot", default=1000, show_default=True, help="Bootstrap resamples.")
@click.option("--snr", default=30.0, show_default=True, help="Excerpt noise SNR in dB.")
@click.option("--teacher", default="MTT_musicnn", show_default=True,
              help="Teacher in teacher_probs for the agreement task.")
@click.option("--min-pos", default=5, show_default=True,
              help="A genre tag enters zero-shot with this many positive and negative tracks.")
@click.option("--min-relevant", default=5, show_default=True,
              help="A genre query counts with this many relevant tracks on the split.")
@json_option
def eval_real(manifest: Path, model: str, baselines: tuple[str, ...], split: str,
              out_dir: Path | None, seed: int, n_boot: int, snr: float, teacher: str,
              min_pos: int, min_relevant: int, as_json: bool) -> None:
    """Real-music evaluation: genuine-genre zero-shot, genre queries (en/de/fr/es), similar
    tracks, excerpt identification and teacher agreement, beside baselines."""
    from lyrebird.train.realeval import format_table, run_real_eval
    from lyrebird.train.realeval.embed import Settings

    with user_errors(*_errors()):
        rep = run_real_eval(manifest, model, baselines, None if split == "all" else split,
                            out_dir, Settings(snr_db=snr), seed, n_boot, teacher, min_pos,
                            min_rel=min_relevant)
    emit(rep, as_json, format_table(rep))
