"""``lyrebird tag FILE``: zero-shot tags of an audio file with a MuLan model."""

from __future__ import annotations

from pathlib import Path

import click

from lyrebird.cli._common import ConfigDefault, emit, json_option
from lyrebird.core.model_spec import SPEC_HELP


@click.command("tag")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--tags", default=None,
              help="Comma-separated tags (default: the MagnaTagATune top-50).")
@click.option("--template", type=str,
              default=ConfigDefault("lyrebird.mulan.vocabulary:DEFAULT_TEMPLATE"), show_default=True,
              help="Prompt template; '{}' is replaced by the tag.")
@click.option("--ensemble", is_flag=True,
              help="Average several English prompt templates (a prompt ensemble).")
@click.option("--model", default="default", show_default=True,
              help=f"MuLan that tags: {SPEC_HELP}.")
@click.option("--top", default=10, show_default=True, help="Tags to print (0 = all).")
@json_option
def tag_cmd(file: Path, tags: str | None, template: str, ensemble: bool, model: str, top: int,
            as_json: bool) -> None:
    """Score FILE against tags by music–text similarity (cosine; higher = more likely)."""
    from lyrebird.encoders import AudioError
    from lyrebird.mulan.tagging import tag_file
    from lyrebird.mulan.vocabulary import check_template
    from lyrebird.mulan.zeroshot import parse_tags

    tag_list = parse_tags(tags)
    if tags is not None and not tag_list:
        raise click.BadParameter("no tags given", param_hint="--tags")
    try:
        check_template(template)
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint="--template") from None
    try:
        scores = tag_file(file, model, tag_list, template, ensemble)
    except (AudioError, ValueError, FileNotFoundError, ImportError, RuntimeError) as e:
        raise click.ClickException(str(e)) from e
    shown = list(scores.items())[: top or None]
    obj = {"file": str(file), "model": model, "scores": dict(shown)}
    width = max(len(t) for t, _ in shown)
    emit(obj, as_json, "\n".join(f"{t:<{width}}  {s:+.4f}" for t, s in shown))
