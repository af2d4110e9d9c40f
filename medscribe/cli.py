"""The `medscribe` command: one subcommand per service, plus operator tools."""

from __future__ import annotations

import asyncio
import importlib
from pathlib import Path
from typing import Any, NamedTuple

import typer
from typer.core import TyperGroup

import shared
from shared.cli_util import fail, fail_on_no_permission, settings_from
from shared.config import ToolSettings
from shared.contracts import StreamNames
from shared.settings import ClusterUnreachable, MissingSetting


class _Lazy(NamedTuple):
    module: str
    attr: str  # a command function, or a typer.Typer for a command group
    help: str


# Each service's command is imported only when it runs (or for --help): a room agent or a
# simulator starts without importing the evaluation, numpy and every other service (~0.6 s).
_LAZY: dict[str, _Lazy] = {
    "demo": _Lazy(
        "medscribe.supervisor.cli", "demo",
        "Run the whole pipeline on a sample visit: simulators, no keys."),
    "up": _Lazy(
        "medscribe.supervisor.cli", "up", "Run every clinic-server service (real AssemblyAI)."),
    "scribe": _Lazy(
        "medscribe.supervisor.cli", "scribe",
        "One clinician: pick a model, talk, Ctrl+C, get transcript and SOAP files."),
    "capture": _Lazy(
        "services.capture.cli", "capture", "Room agent: record a visit from mic, WAV or stdin."),
    "stt-bridge": _Lazy(
        "services.stt_bridge.cli", "stt_bridge",
        "Stream encounter audio to AssemblyAI; publish turns."),
    "editor": _Lazy("services.editor.cli", "editor", "Clean each final turn with the LLM Gateway."),
    "notes": _Lazy("services.notes.cli", "app", "Notes service, migrations, API tokens."),
    "sim": _Lazy("simulators.cli", "app", "Offline AssemblyAI and LLM Gateway simulators."),
    "eval": _Lazy("medscribe.evaluation.cli", "app", "Measure note quality on ACI-Bench."),
}  # fmt: skip


_loaded: dict[str, Any] = {}


# `Any` for click's types: typer >= 0.29 vendors click, older typer uses the click package.
class _LazyGroup(TyperGroup):
    """The top-level group: lists every command, imports a service's only on use."""

    def list_commands(self, ctx: Any) -> list[str]:
        return [*_LAZY, *super().list_commands(ctx)]

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        lazy = _LAZY.get(cmd_name)
        if lazy is None:
            return super().get_command(ctx, cmd_name)
        if cmd_name not in _loaded:
            _loaded[cmd_name] = _load(cmd_name, lazy)
        return _loaded[cmd_name]


def _load(name: str, lazy: _Lazy) -> Any:
    target = getattr(importlib.import_module(lazy.module), lazy.attr)
    # Built inside a group as add_typer/command would build it (no completion options).
    holder = typer.Typer(add_completion=False)
    holder.callback()(lambda: None)
    if isinstance(target, typer.Typer):
        holder.add_typer(target, name=name, help=lazy.help)
    else:
        holder.command(name, help=lazy.help)(target)
    return typer.main.get_command(holder).commands[name]  # type: ignore[attr-defined]


app = typer.Typer(
    cls=_LazyGroup,
    name="medscribe",
    help=(
        "medscribe: a real-time medical scribe for clinics. Exam-room audio is transcribed "
        "live (AssemblyAI Streaming, Medical Mode), each turn is cleaned by an LLM, and every "
        "visit ends as a transcript and a SOAP note for staff to review and sign.\n\n"
        "Start with `medscribe demo` (no keys, no Docker)."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

dlq_app = typer.Typer(help="Inspect and replay the dead-letter stream.", no_args_is_help=True)
app.add_typer(dlq_app, name="dlq")


def _tool_settings() -> ToolSettings:
    return settings_from(ToolSettings)


@app.command("version")
def version() -> None:
    """Print the medscribe version."""
    typer.echo(f"medscribe {shared.__version__}")


@app.command("check")
def check() -> None:
    """Check that Redis, the database and the configured AssemblyAI endpoints answer."""
    from shared.checks import run_checks

    s = _tool_settings()
    results = asyncio.run(
        run_checks(s.redis_url, s.database_url, s.streaming_url, s.llm_gateway_url)
    )
    for r in results:
        mark = "ok  " if r.ok else "FAIL"
        typer.echo(f"{mark} {r.name:<22} {r.detail} ({r.elapsed_ms} ms)")
    key_state = "set" if s.assemblyai_api_key else "not set (needed by `medscribe up`)"
    typer.echo(f"info ASSEMBLYAI_API_KEY      {key_state}")
    if not all(r.ok for r in results):
        raise typer.Exit(1)


@dlq_app.command("list")
def dlq_list(limit: int = typer.Option(50, help="How many of the newest entries.")) -> None:
    """List dead-lettered entries (ids, origin and reason; never their contents)."""
    from shared.dlq import list_dead
    from shared.streams import make_redis

    s = _tool_settings()

    async def go() -> None:
        client = make_redis(s.redis_url)
        try:
            rows = await list_dead(client, StreamNames(s.stream_prefix).dead, limit)
        finally:
            await client.aclose()
        if not rows:
            typer.echo("dead-letter stream is empty")
        for r in rows:
            typer.echo(
                f"{r.dead_id}  {r.stream}  group={r.group}  entry={r.entry_id}  "
                f"deliveries={r.deliveries}  bytes={r.size_bytes}  reason={r.reason}"
            )

    try:
        asyncio.run(go())
    except Exception as err:
        fail_on_no_permission(err, s.redis_url)
        raise


@dlq_app.command("replay")
def dlq_replay(
    dead_id: str = typer.Argument(..., help="Id shown by `medscribe dlq list`."),
) -> None:
    """Put a dead-lettered entry back on its stream (after fixing the cause)."""
    from shared.dlq import replay
    from shared.streams import make_redis

    s = _tool_settings()

    async def go() -> str:
        client = make_redis(s.redis_url)
        try:
            return await replay(client, StreamNames(s.stream_prefix).dead, dead_id)
        finally:
            await client.aclose()

    try:
        new_id = asyncio.run(go())
    except KeyError:
        fail(f"no dead-letter entry {dead_id}")
    except Exception as err:
        fail_on_no_permission(err, s.redis_url, "; nothing was changed")
        raise
    typer.echo(f"replayed as {new_id}")


@app.command("cluster-acl")
def cluster_acl(
    prefix: str = typer.Argument(..., help="The clinic's stream prefix, e.g. 'ms:{clinic-a}:'."),
    passwords: Path = typer.Option(
        ...,
        help="JSON file of the clinic's service passwords: read if it exists, else made "
        "(random, owner-only). Give each service its password in MEDSCRIBE_REDIS_URL.",
    ),
) -> None:
    """Print a clinic's Redis users for Redis Cluster (users.acl lines; load them on every
    node): one per service, limited to the clinic's keys (docs/cluster.md)."""
    import json
    import secrets

    from shared import redis_acl
    from shared.private_files import open_private

    names = StreamNames(prefix)
    try:
        redis_acl.clinic_tag(prefix)
    except ValueError as err:
        fail(str(err))
    if passwords.exists():
        known = json.loads(passwords.read_text(encoding="utf-8"))
        missing = [s for s in redis_acl.SERVICES if not known.get(s)]
        if missing:
            fail(f"{passwords} has no password for: {', '.join(missing)}")
    else:
        known = {s: secrets.token_urlsafe(24) for s in redis_acl.SERVICES}
        with open_private(passwords, "w") as f:
            json.dump(known, f, indent=1)
    for line in redis_acl.clinic_acl(names, known):
        typer.echo(line)


def main() -> None:
    import sys

    try:
        app()
    except (MissingSetting, ClusterUnreachable) as err:  # raised outside a command's handling
        typer.echo(f"medscribe: {err}", err=True)
        sys.exit(2)
    except BaseExceptionGroup as group:  # the same, from inside a service's task group
        known, _rest = group.split((MissingSetting, ClusterUnreachable))
        if known is None:
            raise
        first: BaseException = known
        while isinstance(first, BaseExceptionGroup):
            first = first.exceptions[0]
        typer.echo(f"medscribe: {first}", err=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
