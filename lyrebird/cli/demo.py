"""``lyrebird demo``: the README's main job in one command (see :mod:`lyrebird.demo`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from lyrebird.cli._common import announce, emit, json_option, user_errors
from lyrebird.cli.serve import serve_settings, with_serve_options
from lyrebird.demo import DemoSettings

_DEMO = DemoSettings()


@click.command("demo")
@click.option("--data", "data_dir", type=click.Path(file_okay=False, path_type=Path),
              default=_DEMO.data_dir, show_default=True,
              help="Where the demo corpus is built (and cached).")
@click.option("--library", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Library folder (default: DATA/library).")
@click.option("--clips", type=click.IntRange(1), default=_DEMO.clips, show_default=True,
              help="Number of 10 s clips in the demo corpus.")
@click.option("--model", default=_DEMO.model, show_default=True,
              help="Model of a newly created library.")
@click.option("--no-serve", is_flag=True, help="Build only; do not start the app.")
@with_serve_options
@json_option
def demo(data_dir: Path, library: Path | None, clips: int, model: str, no_serve: bool,
         as_json: bool, **serve_opts: Any) -> None:
    """Build the demo corpus and library with the default model, then serve the app."""
    from lyrebird.demo import DemoResult, run_demo
    from lyrebird.index import LibraryError
    from lyrebird.train.corpora.render import RenderError

    def report(result: DemoResult) -> None:
        c, lb = result.corpus, result.library
        emit(result.to_dict(), as_json,
             f"demo corpus: {c['clips']} clips {'(cached) ' if c['cached'] else ''}→ "
             f"{c['manifest']}\n"
             f"library: {lb['tracks']} tracks, {lb['hours']:.2f} h, model {lb['model']} → "
             f"{lb['path']} (added {lb['added']}, skipped {lb['duplicates']}, "
             f"failed {len(lb['failed'])}, {lb['seconds']:.0f} s)")

    serving = {} if no_serve else serve_settings(**serve_opts)
    with user_errors(ValueError, RenderError, LibraryError):
        run_demo(DemoSettings(data_dir, library, clips, model), serving.pop("config", None),
                 on_built=report, announce=announce, **serving)
