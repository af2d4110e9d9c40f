"""Helpers every service CLI uses: build settings, fail with one clear line."""

from __future__ import annotations

import sys
from typing import NoReturn

import typer
from pydantic import ValidationError

from shared.settings import MissingSetting


def fail(message: str, code: int = 2) -> NoReturn:
    """Print one line to stderr and exit: no traceback for configuration problems."""
    typer.echo(f"medscribe: {message}", err=True)
    raise typer.Exit(code)


def settings_error(err: ValidationError | MissingSetting) -> NoReturn:
    if isinstance(err, MissingSetting):
        fail(str(err))
    first = err.errors(include_url=False, include_input=False)[0]
    name = ".".join(str(p) for p in first["loc"])
    fail(f"invalid setting {name.upper()}: {first['msg']}")


def not_yet(what: str) -> NoReturn:
    typer.echo(f"{what} is not yet available in this build.", err=True)
    sys.exit(3)
