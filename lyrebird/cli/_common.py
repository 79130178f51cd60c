"""Helpers shared by CLI verbs: JSON/human output, friendly errors, lazy defaults and choices.

Option defaults come from the packages' config dataclasses, so each default is stated once.
Light config modules are read when the CLI is imported; heavy ones (torch, pandas) through
:class:`ConfigDefault` and :class:`LazyChoice`, which import them only when a command runs or
its ``--help`` is shown.
"""

from __future__ import annotations

import importlib
import json
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import click

from lyrebird.ui.config import Limits as _Limits

json_option = click.option("--json", "as_json", is_flag=True,
                           help="Print machine-readable JSON on stdout.")


def runtime_option(default: str | None = None) -> Callable[[Callable], Callable]:
    """``--runtime [torch|onnx|onnx-int8]``: what runs the model's towers
    (:mod:`lyrebird.mulan.runtimes`, whose default, PyTorch, is the option's)."""
    from lyrebird.mulan.runtimes import DEFAULT_RUNTIME, RUNTIMES

    return click.option(
        "--runtime", type=click.Choice(RUNTIMES), default=default or DEFAULT_RUNTIME,
        show_default=True,
        help="Run the towers on PyTorch, or on onnxruntime from an ONNX export made once and "
             "cached (onnx: fp32, same vectors; onnx-int8: int8 text tower, queries only; "
             "pip install 'lyrebird[onnx]').")


def emit(obj: Any, as_json: bool, human: str | None = None) -> None:
    """Print ``obj`` as JSON, or ``human`` (falling back to pretty JSON) for people."""
    if as_json:
        json.dump(obj, sys.stdout, indent=2, default=str)
        sys.stdout.write("\n")
    else:
        click.echo(human if human is not None else json.dumps(obj, indent=2, default=str))


def announce(message: str) -> None:
    """Print a status line for people on stderr (stdout stays for results)."""
    click.echo(message, err=True)


class UserError(click.ClickException):
    """A click error (message, exit status 1) that, raised while a command run with ``--json``
    runs, prints ``{"error": message}`` on stdout instead of ``Error: message`` on stderr."""

    def __init__(self, message: str, as_json: bool | None = None):
        super().__init__(message)
        if as_json is None:
            ctx = click.get_current_context(silent=True)
            as_json = bool(ctx is not None and ctx.params.get("as_json"))
        self.as_json = as_json

    def show(self, file: Any = None) -> None:
        if self.as_json:
            json.dump({"error": self.format_message()}, sys.stdout)
            sys.stdout.write("\n")
        else:
            super().show(file)


@contextmanager
def user_errors(*kinds: type[BaseException]) -> Iterator[None]:
    """Turn the given exception types into a :class:`UserError`: the message, exit status 1
    (with ``--json``: ``{"error": message}`` on stdout)."""
    try:
        yield
    except kinds as e:
        raise UserError(str(e)) from e


MAX_ID = 2**63 - 1


class RowId(click.ParamType):
    """A library row id (a track id): a whole number from 1 to 2^63-1 (SQLite's integer)."""

    name = "id"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None
                ) -> int:
        try:
            n = int(str(value).strip())
        except ValueError:
            self.fail(f"{value!r} is not a track id (a whole number)", param, ctx)
        if not 1 <= n <= MAX_ID:
            self.fail(f"{value} is out of range: ids must be between 1 and 2^63-1 "
                      f"({MAX_ID})", param, ctx)
        return n


ROW_ID = RowId()

MAX_RESULTS: int = _Limits.max_k  # the app's and the API's cap on k, stated once


class ResultCount(click.ParamType):
    """``-k``: how many results, a whole number from 1 to :data:`MAX_RESULTS`."""

    name = "k"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None
                ) -> int:
        try:
            n = int(str(value).strip())
        except ValueError:
            self.fail(f"{value!r} is not a number of results (a whole number from 1 to "
                      f"{MAX_RESULTS})", param, ctx)
        if not 1 <= n <= MAX_RESULTS:
            self.fail(f"{n} is out of range: ask for 1 to {MAX_RESULTS} results", param, ctx)
        return n


RESULT_COUNT = ResultCount()


def resolve(ref: str) -> Any:
    """``"package.module:Name.attr"`` → that object, importing the module."""
    module, _, path = ref.partition(":")
    obj: Any = importlib.import_module(module)
    for part in path.split(".") if path else ():
        obj = getattr(obj, part)
    return obj


class ConfigDefault:
    """A click default read from a package when it is needed, not when the CLI is imported.

    ``ConfigDefault("lyrebird.train.probes.run:ProbeOptions", "max_epochs")`` is
    ``ProbeOptions().max_epochs`` (``field`` may be dotted, ``"audio.window_s"``); without a
    field, ``ConfigDefault("lyrebird.mulan.vocabulary:DEFAULT_TEMPLATE")`` is that constant.
    It is computed when the command runs or its ``--help`` shows the default (click prints
    ``str(default)``); ``convert`` maps the value to the option's.
    """

    def __init__(self, ref: str, field: str | None = None,
                 convert: Callable[[Any], Any] | None = None):
        self.ref, self.field, self.convert = ref, field, convert

    def __call__(self) -> Any:
        value: Any = resolve(self.ref)
        if self.field is not None:
            value = value()
            for part in self.field.split("."):
                value = getattr(value, part)
        return self.convert(value) if self.convert else value

    def __str__(self) -> str:
        return str(self())

    def __bool__(self) -> bool:  # click shows a boolean flag's default by its truth
        return bool(self())

    def __repr__(self) -> str:
        return f"ConfigDefault({self.ref!r}, {self.field!r})"


class LazyChoice(click.Choice):
    """A :class:`click.Choice` whose choices come from ``ref`` (a callable or a mapping, see
    :func:`resolve`), loaded on first use; ``--help`` shows ``metavar`` instead of the list."""

    def __init__(self, ref: str, metavar: str):
        self._ref, self._metavar, self._choices = ref, metavar, None
        self.case_sensitive = True

    @property
    def choices(self) -> Sequence[str]:  # type: ignore[override]
        if self._choices is None:
            found = resolve(self._ref)
            self._choices = tuple(found() if callable(found) else found)
        return self._choices

    @choices.setter
    def choices(self, value: Sequence[str]) -> None:
        self._choices = tuple(value)

    def get_metavar(self, param: click.Parameter, ctx: click.Context | None = None) -> str:
        return self._metavar
