"""Frozen-dataclass configs ↔ JSON dicts, with errors that name the bad field; config files
and ``KEY=VALUE`` overrides (the ``--config``/``--set`` of ``lyrebird train``)."""

from __future__ import annotations

import copy
import dataclasses
import json
import os
import types
import typing
from collections.abc import Iterable
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


def config_from_dict(cls: type[C], d: dict, where: str | None = None, *,
                     strict: bool = False) -> C:
    """Inverse of :func:`config_to_dict`. Unknown keys raise ``ValueError`` naming them;
    missing keys take the dataclass defaults; nested dataclasses and tuples are rebuilt.

    ``strict`` (for values people type): each value must also match its field's type
    (``int``, ``float`` (an ``int`` is taken), ``bool``, ``str``, a ``Literal``'s choices,
    tuples, optional ``None``), else :class:`ConfigError` names the field and what it takes."""
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
        if strict:
            value = _check(hints[name], value, f"{where}.{name}")
        kwargs[name] = _coerce(hints[name], value, f"{where}.{name}", strict)
    return cls(**kwargs)


def _coerce(tp, value, where: str, strict: bool = False):
    if value is None:
        return None
    origin = typing.get_origin(tp)
    args = [a for a in typing.get_args(tp) if a is not type(None)]
    if dataclasses.is_dataclass(tp):
        return config_from_dict(tp, value, where, strict=strict)
    if origin in (typing.Union, types.UnionType) and args:
        for a in args:
            if dataclasses.is_dataclass(a) and isinstance(value, dict):
                return config_from_dict(a, value, where, strict=strict)
            if typing.get_origin(a) is tuple and isinstance(value, list):
                return tuple(value)
        return value
    if origin is tuple and isinstance(value, list):
        return tuple(value)
    return value


def _describe(tp) -> str:
    """A field type in words, for error messages."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is typing.Literal:
        return "one of " + ", ".join(json.dumps(a) for a in args)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_describe(a) for a in args)
    if origin is tuple:
        return "a list"
    if dataclasses.is_dataclass(tp):
        return "an object"
    return {int: "an integer", float: "a number", bool: "true or false", str: "a string",
            type(None): "null"}.get(tp, getattr(tp, "__name__", str(tp)))


_NO = object()


def _match(tp, value) -> Any:
    """``value`` (converted: int → float for a float) if it fits ``tp``, else ``_NO``."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if tp is Any or isinstance(tp, TypeVar):
        return value
    if tp is type(None):
        return value if value is None else _NO
    if origin is typing.Literal:
        return value if value in args and type(value) in {type(a) for a in args} else _NO
    if origin in (typing.Union, types.UnionType):
        for a in args:
            got = _match(a, value)
            if got is not _NO:
                return got
        return _NO
    if dataclasses.is_dataclass(tp):
        return value if isinstance(value, dict) else _NO
    if origin is tuple:
        if not isinstance(value, list | tuple):
            return _NO
        items = ([args[0]] * len(value) if len(args) == 2 and args[1] is Ellipsis
                 else list(args))
        if args and len(items) != len(value):
            return _NO
        if not args:
            return list(value)
        out = [_match(t, v) for t, v in zip(items, value, strict=True)]
        return _NO if any(v is _NO for v in out) else out
    if tp is bool:
        return value if isinstance(value, bool) else _NO
    if tp is int:
        return value if isinstance(value, int) and not isinstance(value, bool) else _NO
    if tp is float:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        return float(value) if ok else _NO
    if tp is str:
        return value if isinstance(value, str) else _NO
    return value  # a type this check does not know: taken as it is


def _check(tp, value, where: str) -> Any:
    got = _match(tp, value)
    if got is _NO:
        raise ConfigError(f"{where}: expected {_describe(tp)}, got {json.dumps(value)}")
    return got


# ----------------------------------------------------------------- overrides (the CLI's --set)


class ConfigError(ValueError):
    """A config file or override that cannot be applied; the message names the key (and the
    file) and lists the valid keys where a key is unknown."""


def parse_value(text: str) -> Any:
    """An override's value: JSON when it parses (``4``, ``1e-4``, ``true``, ``null``,
    ``[1, 2]``, ``{"a": 1}``, ``"quoted"``), else the text itself as a string (``mean``)."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def _unknown(key: str, path: str, level: dict, where: str) -> ConfigError:
    under = f" under '{path}'" if path else ""
    full = f"{path}.{key}" if path else key
    return ConfigError(f"{where}: unknown key '{full}'; valid keys{under}: "
                       f"{', '.join(sorted(level))}")


def merge_config(base: dict, over: dict, where: str = "config", _path: str = "") -> dict:
    """``base`` with ``over`` laid on top, recursively: a section (a dict in ``base``) given as
    a dict is merged key by key, anything else replaces the value. Every key of ``over`` must
    exist in ``base`` (:class:`ConfigError` naming it and the valid keys at its level
    otherwise); ``where`` (a file name, ``--set``) starts the message. Returns a new dict."""
    if not isinstance(over, dict):
        raise ConfigError(f"{where}: '{_path or '(top level)'}' must be an object, got "
                          f"{json.dumps(over)}")
    out = copy.deepcopy(base)
    for key, value in over.items():
        if key not in base:
            raise _unknown(key, _path, base, where)
        full = f"{_path}.{key}" if _path else key
        if isinstance(base[key], dict) and isinstance(value, dict):
            out[key] = merge_config(base[key], value, where, full)
        else:
            out[key] = copy.deepcopy(value)
    return out


def apply_overrides(d: dict, sets: Iterable[str], where: str = "--set") -> dict:
    """``d`` with each ``KEY=VALUE`` of ``sets`` applied in order; ``KEY`` is dotted for
    nested sections (``audio.n_layers=4``) and ``VALUE`` is read by :func:`parse_value`.
    Unknown keys raise :class:`ConfigError` naming the key and the valid keys at its level.
    Returns a new dict (``d`` is left alone)."""
    out = copy.deepcopy(d)
    for item in sets:
        key, eq, text = item.partition("=")
        key = key.strip()
        if not eq or not key:
            raise ConfigError(f"{where}: expected KEY=VALUE (e.g. audio.n_layers=4), got "
                              f"{item!r}")
        parts = key.split(".")
        nested: Any = parse_value(text)
        for part in reversed(parts):
            nested = {part: nested}
        # a section that is null (an optional sub-config) cannot be entered key by key
        node, path = out, ""
        for part in parts[:-1]:
            if not isinstance(node, dict) or part not in node:
                break
            if node[part] is None:
                raise ConfigError(f"{where}: '{path + part}' is null here; set it whole, e.g. "
                                  f"{path + part}='{{\"KEY\": VALUE}}'")
            if not isinstance(node[part], dict):
                raise ConfigError(f"{where}: '{path + part}' is a value, not a section; "
                                  f"use {path + part}=VALUE")
            node, path = node[part], f"{path}{part}."
        out = merge_config(out, nested, where)
    return out


def load_config_file(path: str | os.PathLike) -> dict:
    """A JSON config file → its (top-level object) dict; :class:`ConfigError` naming the file
    when it cannot be read, is not valid JSON (with the line and column) or is not an
    object."""
    try:
        text = open(path, encoding="utf-8").read()
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path}: cannot read the config file: {e}") from e
    try:
        d = json.loads(text)
    except json.JSONDecodeError as e:
        raise ConfigError(f"{path}: not valid JSON: {e.msg} (line {e.lineno}, column "
                          f"{e.colno})") from e
    if not isinstance(d, dict):
        raise ConfigError(f"{path}: a config file holds one JSON object ({{...}}), got "
                          f"{type(d).__name__}")
    return d
