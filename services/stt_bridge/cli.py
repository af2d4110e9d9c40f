"""`medscribe stt-bridge`: command-line entry point (flags -> Settings -> service.run)."""

from __future__ import annotations

import asyncio
import signal

import typer

from shared import aio
from shared.cli_util import fail_on_no_permission, settings_error, settings_from
from shared.logging import configure_logging
from shared.settings import MissingSetting


def stt_bridge(
    consumer: str | None = typer.Option(
        None, help="Replica name (default bridge-<host>-<pid>); MEDSCRIBE_CONSUMER."
    ),
    health_port: int | None = typer.Option(
        None, help="Port of /healthz, /readyz, /metrics (0 = off); MEDSCRIBE_HEALTH_PORT."
    ),
) -> None:
    """Stream encounter audio to AssemblyAI Streaming v3 and publish final turns.

    Settings come from MEDSCRIBE_* variables (ASSEMBLYAI_API_KEY, MEDSCRIBE_REDIS_URL,
    MEDSCRIBE_STREAMING_URL, MEDSCRIBE_LEASE_MS, ...). SIGTERM hands encounters back to the
    other replicas.
    """
    from services.stt_bridge.config import BridgeSettings
    from services.stt_bridge.service import run
    from shared.contracts import StreamNames
    from shared.redis_acl import startup_check
    from shared.streams import DEFAULT_MAX_CONNECTIONS, make_redis

    settings = settings_from(BridgeSettings, consumer=consumer or None, health_port=health_port)
    try:
        settings.require_streaming_key()
    except MissingSetting as err:
        settings_error(err)
    configure_logging(settings.log_level, settings.log_format, service="stt-bridge")

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        # Finals, partials and state writes of many encounters may be in flight at once:
        # the pool must never be the limit (a cluster client sizes one per node).
        redis = make_redis(
            settings.redis_url,
            max_connections=max(DEFAULT_MAX_CONNECTIONS, settings.max_encounters + 32),
        )
        try:
            await startup_check(
                redis, "bridge", StreamNames(settings.stream_prefix), settings.redis_url
            )
            await run(settings, redis, stop)
        finally:
            await redis.aclose()

    from services.stt_bridge.ledger import LedgerError

    try:
        aio.run(main(), use_uvloop=settings.uvloop)
    except LedgerError as err:
        typer.echo(f"medscribe stt-bridge: {err} (see MEDSCRIBE_DONE_LEDGER)", err=True)
        raise typer.Exit(2) from None
    except Exception as err:
        fail_on_no_permission(err, settings.redis_url)
        raise
