"""Small named values a library keeps for the tools around it (its ``meta`` table, keys
``note:<name>``, JSON): e.g. the example searches its app offers (``examples``), written once
by whoever builds the library (``lyrebird demo``) and read by every front end that serves it.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

from . import store

PREFIX = "note:"
DB = "library.sqlite"


def _key(name: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", name or ""):
        raise ValueError(f"note name {name!r}: 1 to 64 letters, digits, '-' or '_'")
    return PREFIX + name


def read_note(library: str | os.PathLike, name: str, default: Any = None) -> Any:
    """The note ``name`` of the library folder ``library`` (read-only; no model, no lock), or
    ``default`` when it has none."""
    con = store.connect(Path(library) / DB, readonly=True)
    try:
        raw = store.get_meta(con).get(_key(name))
    finally:
        con.close()
    return default if raw is None else json.loads(raw)


def write_note(lib, name: str, value: Any) -> None:
    """Store ``value`` (JSON-able) as the note ``name`` of the writable library ``lib`` (one
    commit under its writer lock)."""
    text = json.dumps(value, ensure_ascii=False)
    with lib.writing(), store.immediate(lib.con):
        store.set_meta(lib.con, **{_key(name): text})


__all__ = ["read_note", "write_note"]
