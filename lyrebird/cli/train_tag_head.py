"""``lyrebird train tag-head``: distil the musicnn teachers into MuLan's tag head (one call to
:func:`lyrebird.train.trainers.tag_head.train_tag_head`)."""

from __future__ import annotations

from pathlib import Path

import click

from lyrebird.cli._common import ConfigDefault, emit, json_option

_CFG = "lyrebird.train.trainers.tag_head:TagHeadTrainConfig"


@click.command("tag-head")
@click.option("--manifest", required=True, type=click.Path(exists=True, dir_okay=False,
                                                           path_type=Path),
              help="The corpus manifest the window labels were made from.")
@click.option("--windows", required=True, type=click.Path(exists=True, file_okay=False,
                                                          path_type=Path),
              help="'lyrebird teach --windows' output: its train tracks train the head, its "
                   "valid tracks select and calibrate it (splits as in the manifest).")
@click.option("--model", default="default", show_default=True, help="MuLan whose vectors it reads.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Head folder (default: the model's checkpoint folder / tag_head).")
@click.option("--epochs", type=click.IntRange(1), default=ConfigDefault(_CFG, "epochs"),
              show_default=True)
@click.option("--hidden", type=click.IntRange(0), default=ConfigDefault(_CFG, "hidden"),
              show_default=True, help="Hidden width (0: linear head).")
@click.option("--hop-s", type=click.FloatRange(0.5), default=ConfigDefault(_CFG, "hop_s"),
              show_default=True, help="Segment hop in seconds (the library's).")
@json_option
def train_tag_head_cmd(manifest: Path, windows: Path, model: str,
                       out: Path | None, epochs: int, hidden: int, hop_s: float,
                       as_json: bool) -> None:
    """Fit the distilled tag head on window labels and report its fidelity to the teachers."""
    from lyrebird.train.trainers.tag_head import TagHeadTrainConfig, train_tag_head

    cfg = TagHeadTrainConfig(epochs=epochs, hidden=hidden, hop_s=hop_s)
    try:
        rep = train_tag_head(manifest, windows, model, out, cfg)
    except ValueError as e:
        raise click.ClickException(str(e)) from e
    lines = [f"tag head: {rep['fit']['train_segments']} train / {rep['fit']['valid_segments']} "
             f"valid segments, best epoch {rep['fit']['best_epoch']}"]
    lines += [f"  {t}: macro ROC-AUC {d['macro_roc_auc']:.3f} over {d['n_tags']} tags, "
              f"mean Pearson {d['mean_pearson']:.3f}" for t, d in rep["fidelity"].items()]
    emit(rep, as_json, "\n".join(lines))
