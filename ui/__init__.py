"""The Gradio app over a music library: text search, similar tracks, zero-shot tagging, library.

``lyrebird serve LIBRARY`` runs it; from Python::

    from lyrebird.ui import LibraryService, ServeConfig, serve
    serve(LibraryService("my-library"), ServeConfig(port=7860))

Imports ``lyrebird.index`` and ``lyrebird.mulan`` only.
"""

from .server import ServeConfig, Server, make_app, parse_auth, serve
from .service import LibraryService, Limits, UserError

__all__ = ["LibraryService", "Limits", "ServeConfig", "Server", "UserError", "make_app",
           "parse_auth", "serve"]
