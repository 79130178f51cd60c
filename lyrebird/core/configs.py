"""Frozen-dataclass configs ↔ JSON dicts, with errors that name the bad field."""

from __future__ import annotations

import dataclasses
import typing
from typing import Any, TypeVar

C = TypeVar("C")


def config_to_dict(cfg: Any) -> dict:
    """A frozen dataclass (possibly nested) → JSON-ready dict (tuples become lists)."""

    def conv(v):
        if dataclasses.is_dataclass(v):
            return {f.name: conv(getattr(v, f.name)) for f in dataclasses.fields(v)}
        if isinstance(v, tuple | list):
            return [conv(x) for x in v]
        return v

    return conv(cfg)


def config_from_dict(cls: type[C], d: dict, where: str | None = None) -> C:
    """Inverse of :func:`config_to_dict`. Unknown keys raise ``ValueError`` naming them;
    missing keys take the dataclass defaults; nested dataclasses and tuples are rebuilt."""
    where = where or cls.__name__
    if not isinstance(d, dict):
        raise ValueError(f"{where}: expected an object, got {type(d).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = set(d) - set(fields)
    if unknown:
        raise ValueError(f"{where}: unknown field(s) {sorted(unknown)}; "
                         f"expected some of {sorted(fields)}")
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for name, value in d.items():
        kwargs[name] = _coerce(hints[name], value, f"{where}.{name}")
    return cls(**kwargs)


def _coerce(tp, value, where: str):
    if value is None:
        return None
    origin = typing.get_origin(tp)
    args = [a for a in typing.get_args(tp) if a is not type(None)]
    if dataclasses.is_dataclass(tp):
        return config_from_dict(tp, value, where)
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)) and args:
        for a in args:
            if dataclasses.is_dataclass(a) and isinstance(value, dict):
                return config_from_dict(a, value, where)
            if typing.get_origin(a) is tuple and isinstance(value, list):
                return tuple(value)
        return value
    if origin is tuple and isinstance(value, list):
        return tuple(value)
    return value
