"""``--config FILE``, ``--set KEY=VALUE`` and ``--print-config``: how every ``lyrebird train``
verb builds its configs (import-light: no torch here; the verbs import their config classes
when they run).

A verb's settings are one flat JSON object: the fields of its config dataclasses side by side
(``MuLanConfig``'s ``audio``, ``text``, ``dim``…, ``RunConfig``'s ``lr``, ``max_steps``…), so
``--set audio.n_layers=4 --set lr=1e-4`` needs no section prefix. Field names never repeat
across a verb's dataclasses (checked here). Settings are resolved in this order, each step
overriding the one before::

    dataclass defaults (the preset's, with --preset) < --config FILE < options given on the
    command line (--lr, --max-steps, …) < --set KEY=VALUE

and parsed with :func:`lyrebird.core.configs.config_from_dict` (``strict``: types checked).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import click
from click.core import ParameterSource

from lyrebird.core.configs import (
    apply_overrides,
    config_from_dict,
    config_to_dict,
    load_config_file,
    merge_config,
)

PRECEDENCE = (
    "Precedence, lowest first: the dataclass defaults (the preset's, with --preset) < "
    "--config FILE (a JSON object, e.g. what --print-config printed) < the options above, "
    "when given < --set KEY=VALUE (repeatable; dotted keys for sections; VALUE is JSON when it "
    "parses, else a string: --set audio.n_layers=4 --set lr=1e-4 --set "
    "'audio.layers=[4,-1]' --set teacher=null).")
"""How ``--config``, the options and ``--set`` combine: the help epilog of every train verb."""


def epilog(settings: str) -> str:
    """A train verb's help epilog: what its settings are, then :data:`PRECEDENCE`."""
    return f"Settings (--print-config lists them all): {settings} {PRECEDENCE}"


def config_options(f: Callable) -> Callable:
    """``--config FILE``, ``--set KEY=VALUE`` (repeatable) and ``--print-config``; the command
    gets them as ``config_file``, ``sets`` and ``print_config``."""
    for o in reversed([
        click.option("--config", "config_file", type=click.Path(dir_okay=False, path_type=Path),
                     default=None, help="JSON settings file (see below)."),
        click.option("--set", "sets", multiple=True, metavar="KEY=VALUE",
                     help="Override one setting (repeatable; wins over everything else)."),
        click.option("--print-config", is_flag=True,
                     help="Print the resolved settings as JSON (a --config file) and exit."),
    ]):
        f = o(f)
    return f


def flatten(parts: Mapping[str, Any]) -> dict:
    """The settings object of ``parts`` (name → config dataclass): their fields side by side,
    in order. Two parts with a field of the same name are a programming error."""
    out: dict = {}
    owner: dict[str, str] = {}
    for name, cfg in parts.items():
        for key, value in config_to_dict(cfg).items():
            if key in out:
                raise RuntimeError(f"settings '{key}' of '{name}' and '{owner[key]}' collide")
            out[key], owner[key] = value, name
    return out


def split(parts: Mapping[str, Any], settings: dict) -> dict[str, Any]:
    """Inverse of :func:`flatten`: each part rebuilt from its keys of ``settings`` by
    :func:`config_from_dict` (strict), the others' keys ignored."""
    out = {}
    for name, cfg in parts.items():
        keys = config_to_dict(cfg).keys()
        out[name] = config_from_dict(type(cfg), {k: settings[k] for k in keys if k in settings},
                                     strict=True)
    return out


def given_options(ctx: click.Context, names: Iterable[str]) -> dict[str, Any]:
    """The options among ``names`` set on the command line (or from the environment), by name:
    only these override the config file."""
    return {n: ctx.params[n] for n in names
            if ctx.get_parameter_source(n) not in (None, ParameterSource.DEFAULT)}


def resolve_settings(parts: Mapping[str, Any], config_file: Path | None = None,
                     options: Mapping[str, Any] | None = None,
                     sets: Iterable[str] = ()) -> dict[str, Any]:
    """``parts`` (name → default config) with the config file, then the given ``options``
    (setting name → value), then the ``--set`` overrides laid on top; returns name → config.
    Raises :class:`~lyrebird.core.configs.ConfigError` (or ``ValueError`` from a config's own
    checks) with a message for people."""
    settings = flatten(parts)
    if config_file is not None:
        settings = merge_config(settings, load_config_file(config_file), str(config_file))
    if options:
        settings = merge_config(settings, dict(options), "options")
    settings = apply_overrides(settings, sets, "--set")
    return split(parts, settings)


def resolve(ctx: click.Context, parts: Mapping[str, Any], options: Iterable[str] = ()
            ) -> dict[str, Any]:
    """:func:`resolve_settings` for a running command: ``options`` are its parameter names
    that are also setting names; errors become a usage error (``Error: …``, exit status 2)."""
    p = ctx.params
    try:
        return resolve_settings(parts, p.get("config_file"), given_options(ctx, options),
                                p.get("sets", ()))
    except (ValueError, TypeError) as e:
        raise click.UsageError(str(e), ctx) from e


def print_settings(parts: Mapping[str, Any]) -> None:
    """``--print-config``: the resolved settings as one JSON object on stdout."""
    click.echo(json.dumps(flatten(parts), indent=2))


def need(ctx: click.Context, *names: str) -> None:
    """Options that are required unless ``--print-config`` is given."""
    for name in names:
        if not ctx.params.get(name):
            param = next(p for p in ctx.command.params if p.name == name)
            raise click.MissingParameter(ctx=ctx, param=param)


__all__ = ["PRECEDENCE", "config_options", "epilog", "flatten", "given_options", "need",
           "print_settings", "resolve", "resolve_settings", "split"]
