"""Helpers every service CLI uses: build settings, fail with one clear line."""

from __future__ import annotations

import socket
import sys
from typing import Any, NoReturn, TypeVar

import typer
from pydantic import ValidationError
from pydantic_settings import BaseSettings

from shared.settings import MissingSetting


def fail(message: str, code: int = 2) -> NoReturn:
    """Print one line to stderr and exit: no traceback for configuration problems."""
    typer.echo(f"medscribe: {message}", err=True)
    raise typer.Exit(code)


# Said for a host name DNS does not know; the stack tests wait out podman's DNS on it.
UNKNOWN_HOST = "its host name is not known here (DNS): check the host in the URL"


def why_unreachable(err: OSError) -> str:
    """What an operator can act on, for a connection that failed: the class name alone
    ("gaierror") says nothing to clinic IT. Never the address's credentials."""
    if isinstance(err, socket.gaierror):
        return UNKNOWN_HOST
    if isinstance(err, ConnectionRefusedError):
        return "connection refused: nothing listens at that host and port"
    if isinstance(err, TimeoutError):
        return "no answer in time: a firewall, or the host is down"
    if isinstance(err, PermissionError):
        return "not permitted (a firewall or the operating system refused the connection)"
    return type(err).__name__


S = TypeVar("S", bound=BaseSettings)


def settings_from(settings_cls: type[S], **options: Any) -> S:
    """``settings_cls`` from the environment and the command's options (None: not given);
    an invalid setting ends the command with one line naming its variable."""
    try:
        return settings_cls(**{k: v for k, v in options.items() if v is not None})
    except ValidationError as err:
        settings_error(err)


def settings_error(err: ValidationError | MissingSetting) -> NoReturn:
    if isinstance(err, MissingSetting):
        fail(str(err))
    first = err.errors(include_url=False, include_input=False)[0]
    name = ".".join(str(p) for p in first["loc"]).upper()
    # Say which environment variable to fix (settings come from MEDSCRIBE_* variables).
    env = name if name.startswith("MEDSCRIBE_") or "." in name else f"MEDSCRIBE_{name}"
    where = f" ({env})" if env != name else ""
    fail(f"invalid setting {name}{where}: {first['msg']}")


def not_yet(what: str) -> NoReturn:
    typer.echo(f"{what} is not yet available in this build.", err=True)
    sys.exit(3)


def fail_on_no_permission(err: BaseException, redis_url: str, suffix: str = "") -> None:
    """Exit with one line (user and command, no traceback) when ``err`` holds a Redis NOPERM;
    otherwise return, and the caller re-raises."""
    from shared.redis_acl import EXIT_NO_PERMISSION, permission_failure

    line = permission_failure(err, redis_url)
    if line is not None:
        fail(line + suffix, EXIT_NO_PERMISSION)
