"""``lyrebird train tag-student``: distil the musicnn teachers into the small CNN that tags audio
(one call to :func:`lyrebird.train.trainers.tag_student.train_tag_student`)."""

from __future__ import annotations

from pathlib import Path

import click

from lyrebird.cli._common import ConfigDefault, emit, json_option
from lyrebird.cli._train_config import config_options, epilog, need, print_settings, resolve

_CFG = "lyrebird.train.trainers.tag_student:TagStudentTrainConfig"


@click.command("tag-student", epilog=epilog(
    "TagStudentTrainConfig (teachers, width, batch, lr, weight_decay, feat_weight, logit_weight, "
    "logit_floor, rank_weight, rank_temperature, jitter, top, copies, seed, init)."))
@click.option("--manifest", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="The corpus manifest the window labels were made from (required unless "
                   "--print-config).")
@click.option("--windows", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="'lyrebird teach --windows' output: its train tracks train the student, its "
                   "valid tracks measure it (splits as in the manifest; required unless "
                   "--print-config).")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=False,
              help="Student folder (e.g. a MuLan checkpoint folder / tag_student; required "
                   "unless --print-config).")
@click.option("--cache", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Log-mels and the epoch checkpoint (default: WINDOWS/student-cache); a run "
                   "resumes from it.")
@click.option("--more", nargs=2, multiple=True,
              type=click.Path(exists=True, path_type=Path), metavar="MANIFEST WINDOWS",
              help="Another corpus's manifest and window labels whose train split trains the "
                   "student too (e.g. the demo corpus; repeatable). Valid stays --manifest's.")
@click.option("--workers", type=click.IntRange(1), default=1, show_default=True,
              help="Processes that decode the tracks not in the cache yet (log-mels, sung "
                   "copies' voices).")
@click.option("--epochs", type=click.IntRange(1), default=ConfigDefault(_CFG, "epochs"),
              show_default=True)
@click.option("--calibrate-only", is_flag=True,
              help="Do not train: calibrate the chips' per-tag thresholds of the student in "
                   "--out on the valid labels and save it back (its stored tags stay valid).")
@config_options
@json_option
@click.pass_context
def train_tag_student_cmd(ctx: click.Context, manifest: Path | None, windows: Path | None,
                          out: Path | None, cache: Path | None,
                          more: tuple[tuple[Path, Path], ...], workers: int,
                          calibrate_only: bool,
                          as_json: bool, print_config: bool, **_: object) -> None:
    """Train the tag student on window labels and report its fidelity to the teachers."""
    from lyrebird.train.trainers.tag_student import TagStudentTrainConfig

    got = resolve(ctx, {"student": TagStudentTrainConfig()}, ("epochs",))
    if print_config:
        return print_settings(got)
    need(ctx, "manifest", "windows", "out")
    from lyrebird.train.trainers.tag_student import calibrate_student, train_tag_student

    if calibrate_only:
        try:
            rep = calibrate_student(manifest, windows, out, got["student"].top, cache)
        except (ValueError, OSError) as e:
            raise click.ClickException(str(e)) from e
        lines = [f"calibrated '{out}' on {rep['valid_windows']} valid windows"]
        lines += [f"  {t}: macro ROC-AUC {d['macro_roc_auc']:.3f} on segments"
                  for t, d in rep["fidelity"]["segments"].items()]
        return emit(rep, as_json, "\n".join(lines))

    def progress(h: dict) -> None:
        if not as_json:
            click.echo(f"epoch {h['epoch']}: loss {h['loss']:.4f} ({h['seconds']:.0f} s)", err=True)

    try:
        rep = train_tag_student(manifest, windows, out, got["student"], cache, on_epoch=progress,
                                more=more, workers=workers)
    except ValueError as e:
        raise click.ClickException(str(e)) from e
    lines = [f"tag student: {rep['train_windows']} train / {rep['valid_windows']} valid windows"]
    lines += [f"  {t}: macro ROC-AUC {d['macro_roc_auc']:.3f} on segments "
              f"({rep['fidelity']['windows'][t]['macro_roc_auc']:.3f} on windows) over "
              f"{d['n_tags']} tags" for t, d in rep["fidelity"]["segments"].items()]
    emit(rep, as_json, "\n".join(lines))
