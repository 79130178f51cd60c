"""``lyrebird demo``: the README's main job in one command (see :mod:`lyrebird.demo`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from lyrebird.cli._common import announce, emit, json_option, user_errors
from lyrebird.cli.serve import serve_settings, with_serve_options
from lyrebird.core.model_spec import SPEC_HELP
from lyrebird.demo import DemoSettings

_DEMO = DemoSettings()


@click.command("demo")
@click.option("--data", "data_dir", type=click.Path(file_okay=False, path_type=Path),
              default=_DEMO.data_dir, show_default=True,
              help="Where the demo corpus is built (and cached).")
@click.option("--library", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Library folder (default: DATA/library).")
@click.option("--clips", type=click.IntRange(1), default=_DEMO.clips, show_default=True,
              help="Number of tracks in the demo library (whole pieces of 30-90 s).")
@click.option("--model", default=_DEMO.model, show_default=True,
              help=f"Model of a newly created library: {SPEC_HELP}.")
@click.option("--real/--no-real", default=_DEMO.real, show_default=True,
              help="Also about an hour of real recordings from small Debian packages "
                   "(the real corpus's test split; .ci/setup installs them).")
@click.option("--no-serve", is_flag=True, help="Build only; do not start the app.")
@with_serve_options
@json_option
def demo(data_dir: Path, library: Path | None, clips: int, model: str, real: bool,
         no_serve: bool, as_json: bool, **serve_opts: Any) -> None:
    """Build the demo corpus and library with the default model, then serve the app."""
    from lyrebird.demo import DemoResult, run_demo, summary
    from lyrebird.index import LibraryError
    from lyrebird.train.corpora.render import RenderError

    def report(result: DemoResult) -> None:
        emit(result.to_dict(), as_json, summary(result))

    serving = {} if no_serve else serve_settings(**serve_opts)
    with user_errors(ValueError, ImportError, RenderError, LibraryError):
        run_demo(DemoSettings(data_dir, library, clips, model, real=real),
                 serving.pop("config", None),
                 on_built=report, announce=announce, **serving)
