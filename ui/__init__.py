"""The Gradio app over a music library: text search, similar tracks, zero-shot tagging, library.

``lyrebird serve LIBRARY`` runs it; from Python::

    from lyrebird.ui import ServeConfig, serve
    serve("my-library", ServeConfig(port=7860))

Imports ``lyrebird.index`` and ``lyrebird.mulan`` only. Names load on first use, so the light
:mod:`lyrebird.ui.config` (``ServeConfig``, ``Limits``) does not import gradio or a library.
"""

from __future__ import annotations

import importlib
import os
from typing import Any

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # before gradio is imported

_EXPORTS: dict[str, str] = {
    "Limits": ".config", "ServeConfig": ".config", "parse_auth": ".config",
    "Server": ".server", "make_app": ".server", "serve": ".server",
    "LibraryService": ".service", "UserError": ".service",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    where = _EXPORTS.get(name)
    if where is None:
        raise AttributeError(f"module 'lyrebird.ui' has no attribute {name!r}")
    value = getattr(importlib.import_module(where, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
