"""``lyrebird serve LIBRARY``: the Gradio app over a library (see ``lyrebird.ui``)."""

from __future__ import annotations

from pathlib import Path

import click

from lyrebird.cli import main

serve_options = [
    click.option("--host", default="127.0.0.1", show_default=True,
                 help="Address to bind; the default serves this machine only."),
    click.option("--port", type=click.IntRange(0, 65535), default=7860, show_default=True,
                 help="Port (0: any free port)."),
    click.option("--auth", default=None, metavar="USER:PASS",
                 help="Require this user and password (HTTP Basic) on every route."),
    click.option("--concurrency", type=click.IntRange(1), default=2, show_default=True,
                 help="Requests handled at once; the rest wait in the queue."),
    click.option("--max-upload-mb", type=click.IntRange(1), default=50, show_default=True,
                 help="Largest upload accepted (MiB)."),
    click.option("--max-upload-s", type=click.FloatRange(1.0), default=600.0, show_default=True,
                 help="Longest uploaded audio accepted (seconds)."),
    click.option("--readonly", is_flag=True, help="Disable 'add folder' in the Library tab."),
]


def with_serve_options(f):
    """Decorate a command with the serving options shared by ``serve`` and ``demo``."""
    for opt in reversed(serve_options):
        f = opt(f)
    return f


def run_server(library: Path, host: str, port: int, auth: str | None, concurrency: int,
               max_upload_mb: int, max_upload_s: float, readonly: bool,
               model: str | None = None, examples: list[str] | None = None) -> None:
    """Open ``library`` and serve the app until Ctrl-C, printing its URL first."""
    from lyrebird.index import LibraryError, load_model
    from lyrebird.ui import LibraryService, Limits, ServeConfig, make_app, parse_auth

    try:
        cfg = ServeConfig(host=host, port=port, auth=parse_auth(auth), concurrency=concurrency,
                          max_upload_mb=max_upload_mb)
        svc = LibraryService(library, model=load_model(model) if model else None,
                             limits=Limits(max_upload_mb * 2**20, max_upload_s),
                             allow_add=not readonly)
    except (ValueError, LibraryError) as e:
        raise click.ClickException(str(e)) from e
    import uvicorn

    if port == 0:
        port = _free_port(host)
    shown = "localhost" if host in ("127.0.0.1", "localhost") else host
    click.echo(f"Lyrebird is serving '{library}' at http://{shown}:{port}/  (Ctrl-C to stop)",
               err=True)
    if host not in ("127.0.0.1", "localhost", "::1") and not auth:
        click.echo(f"warning: bound to {host} without --auth; anyone who can reach this "
                   "port can search and add folders", err=True)
    uvicorn.run(make_app(svc, cfg, examples), host=host, port=port, log_level="warning")



def _free_port(host: str) -> int:
    import socket

    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


@main.command()
@click.argument("library", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--model", default=None,
              help="Model spec to load instead of the one the library names (same fingerprint).")
@with_serve_options
def serve(library: Path, model: str | None, **opts) -> None:
    """Serve the web app (text search, similar tracks, zero-shot tagging) over LIBRARY."""
    run_server(library, model=model, **opts)
