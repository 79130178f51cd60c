"""``lyrebird train tag-head``: distil the musicnn teachers into MuLan's tag head (one call to
:func:`lyrebird.train.trainers.tag_head.train_tag_head`)."""

from __future__ import annotations

from pathlib import Path

import click

from lyrebird.cli._common import ConfigDefault, emit, json_option
from lyrebird.cli._train_config import config_options, epilog, need, print_settings, resolve

_CFG = "lyrebird.train.trainers.tag_head:TagHeadTrainConfig"


@click.command("tag-head", epilog=epilog(
    "TagHeadTrainConfig (hidden, hop_s, segment_s, feat_weight, batch, lr, weight_decay, top, "
    "seed, teachers)."))
@click.option("--manifest", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="The corpus manifest the window labels were made from (required unless "
                   "--print-config).")
@click.option("--windows", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="'lyrebird teach --windows' output: its train tracks train the head, its "
                   "valid tracks select and calibrate it (splits as in the manifest; required "
                   "unless --print-config).")
@click.option("--model", default="default", show_default=True, help="MuLan whose vectors it reads.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Head folder (default: the model's checkpoint folder / tag_head).")
@click.option("--epochs", type=click.IntRange(1), default=ConfigDefault(_CFG, "epochs"),
              show_default=True)
@config_options
@json_option
@click.pass_context
def train_tag_head_cmd(ctx: click.Context, manifest: Path | None, windows: Path | None,
                       model: str, out: Path | None, as_json: bool, print_config: bool,
                       **_: object) -> None:
    """Fit the distilled tag head on window labels and report its fidelity to the teachers."""
    from lyrebird.train.trainers.tag_head import TagHeadTrainConfig

    got = resolve(ctx, {"head": TagHeadTrainConfig()}, ("epochs",))
    if print_config:
        return print_settings(got)
    need(ctx, "manifest", "windows")
    from lyrebird.train.trainers.tag_head import train_tag_head

    try:
        rep = train_tag_head(manifest, windows, model, out, got["head"])
    except ValueError as e:
        raise click.ClickException(str(e)) from e
    lines = [f"tag head: {rep['fit']['train_segments']} train / {rep['fit']['valid_segments']} "
             f"valid segments, best epoch {rep['fit']['best_epoch']}"]
    lines += [f"  {t}: macro ROC-AUC {d['macro_roc_auc']:.3f} over {d['n_tags']} tags, "
              f"mean Pearson {d['mean_pearson']:.3f}" for t, d in rep["fidelity"].items()]
    emit(rep, as_json, "\n".join(lines))
