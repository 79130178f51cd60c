"""Helpers shared by CLI verbs: JSON/human output and friendly errors."""

from __future__ import annotations

import json
import sys
from typing import Any

import click

json_option = click.option("--json", "as_json", is_flag=True,
                           help="Print machine-readable JSON on stdout.")


def emit(obj: Any, as_json: bool, human: str | None = None) -> None:
    """Print ``obj`` as JSON, or ``human`` (falling back to pretty JSON) for people."""
    if as_json:
        json.dump(obj, sys.stdout, indent=2, default=str)
        sys.stdout.write("\n")
    else:
        click.echo(human if human is not None else json.dumps(obj, indent=2, default=str))
