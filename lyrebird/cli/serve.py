"""``lyrebird serve LIBRARY``: the Gradio app over a library (see :func:`lyrebird.ui.serve`)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from lyrebird.cli._common import announce, runtime_option, user_errors
from lyrebird.core.model_spec import SPEC_HELP
from lyrebird.ui.config import MIB, Limits, ServeConfig, parse_auth

_SERVE, _LIMITS = ServeConfig(), Limits()

serve_options = [
    click.option("--host", default=_SERVE.host, show_default=True,
                 help="Address to bind; the default serves this machine only."),
    click.option("--port", type=click.IntRange(0, 65535), default=_SERVE.port, show_default=True,
                 help="Port (0: any free port)."),
    click.option("--auth", default=None, metavar="USER:PASS",
                 help="Require this user and password (HTTP Basic) on every route."),
    click.option("--concurrency", type=click.IntRange(1), default=_SERVE.concurrency,
                 show_default=True, help="Requests handled at once; the rest wait in the queue."),
    click.option("--max-upload-mb", type=click.IntRange(1),
                 default=_LIMITS.max_upload_bytes // MIB, show_default=True,
                 help="Largest upload accepted (MiB)."),
    click.option("--max-upload-s", type=click.FloatRange(1.0), default=_LIMITS.max_upload_s,
                 show_default=True, help="Longest uploaded audio accepted (seconds)."),
    click.option("--readonly", is_flag=True, help="Disable 'add folder' in the Library tab."),
    runtime_option(_SERVE.runtime),
]


def with_serve_options(f: Callable) -> Callable:
    """Decorate a command with the serving options shared by ``serve`` and ``demo``."""
    for opt in reversed(serve_options):
        f = opt(f)
    return f


def serve_settings(host: str, port: int, auth: str | None, concurrency: int,
                   max_upload_mb: int, max_upload_s: float, readonly: bool,
                   runtime: str = _SERVE.runtime) -> dict[str, Any]:
    """The parsed serving options → keyword arguments of :func:`lyrebird.ui.serve`."""
    with user_errors(ValueError):
        config = ServeConfig(host=host, port=port, auth=parse_auth(auth), concurrency=concurrency,
                             runtime=runtime)
    return {"config": config, "limits": Limits(max_upload_mb * MIB, max_upload_s),
            "allow_add": not readonly}


@click.command("serve")
@click.argument("library", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--model", default=None,
              help=f"Model to load instead of the one the library names (same fingerprint): "
                   f"{SPEC_HELP}.")
@with_serve_options
def serve_cmd(library: Path, model: str | None, **opts: Any) -> None:
    """Serve the web app (text search, similar tracks, zero-shot tagging) over LIBRARY."""
    from lyrebird.index import LibraryError
    from lyrebird.ui import serve

    settings = serve_settings(**opts)
    with user_errors(ValueError, ImportError, LibraryError):
        serve(library, model=model, announce=announce, **settings)
