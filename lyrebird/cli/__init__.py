"""The ``lyrebird`` command: one click tree, ``lyrebird <verb> [<sub>]``.

Each verb lives in its own module here and only parses, calls one package function and
prints; :data:`VERBS` below is the one list of them, added to :data:`main`. Heavy imports
happen inside the commands, so ``lyrebird --help`` stays fast.
"""

from __future__ import annotations

import logging

import click

from lyrebird import __version__
from lyrebird.cli import (
    bench,
    data,
    demo,
    eval,
    export,
    index,
    playlist,
    probe,
    serve,
    tag,
    teach,
    train,
)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="lyrebird")
@click.option("-v", "--verbose", is_flag=True, help="Log debug messages.")
def main(verbose: bool) -> None:
    """Lyrebird: music encoders, music–text search and zero-shot tagging."""
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO,
                        format="%(levelname)s %(name)s: %(message)s")
    # Lightning installs its own handlers; keep its records from printing twice, and drop
    # its advertising tips.
    for quiet in ("faiss.loader", "httpx", "httpcore"):
        logging.getLogger(quiet).setLevel(logging.WARNING)
    for name in ("lightning.pytorch", "lightning.fabric"):
        lg = logging.getLogger(name)
        lg.propagate = False
        lg.addFilter(lambda r: "Tip:" not in r.getMessage())


VERBS: tuple[click.Command, ...] = (
    bench.bench, data.data, demo.demo, eval.eval_group, export.export_group, index.index_group,
    index.search_cmd, index.similar_cmd, playlist.playlist_cmd, probe.probe_cmd, serve.serve_cmd,
    tag.tag_cmd, teach.teach_cmd, train.train,
)
"""Every top-level verb, in the order of the source tree (``--help`` sorts them by name)."""

for _verb in VERBS:
    main.add_command(_verb)

__all__ = ["VERBS", "main"]
