"""Package namespaces that load their names on first use (PEP 562).

A package's ``__init__`` lists ``{name: module}`` and calls :func:`lazy_exports`, so importing
one light submodule (a config, a vocabulary) does not import the package's heavy modules.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any


def lazy_exports(package: str, exports: dict[str, str], namespace: dict[str, Any]
                 ) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``__getattr__`` and ``__dir__`` for ``package`` whose public names live in the modules
    ``exports`` maps them to (relative like ``".model"`` or absolute); a loaded name is cached
    in ``namespace`` (the package's ``globals()``)."""

    def __getattr__(name: str) -> Any:
        where = exports.get(name)
        if where is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(where, package), name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted(set(namespace) | set(exports))

    return __getattr__, __dir__
