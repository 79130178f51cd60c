"""The Gradio app over a music library: text search, similar tracks, zero-shot tagging, the
music map, playlists and the library tab.

``lyrebird serve LIBRARY`` runs it; from Python::

    from lyrebird.ui import ServeConfig, serve
    serve("my-library", ServeConfig(port=7860))

Imports ``lyrebird.index`` and ``lyrebird.mulan`` only. Names load on first use, so the light
:mod:`lyrebird.ui.config` (``ServeConfig``, ``Limits``) does not import gradio or a library.
"""

from __future__ import annotations

import os

from lyrebird.core.lazy import lazy_exports

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # before gradio is imported

_EXPORTS: dict[str, str] = {
    "Limits": ".config", "ServeConfig": ".config", "parse_auth": ".config",
    "Server": ".server", "make_app": ".server", "serve": ".server",
    "LibraryService": ".service", "UserError": ".service",
}

__all__ = sorted(_EXPORTS)


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
