"""`medscribe editor`: command-line entry point (flags -> Settings -> service.run)."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from typing import Any

import typer

from shared import aio
from shared.cli_util import fail_on_no_permission, settings_error, settings_from
from shared.settings import MissingSetting


def editor(
    workers: int | None = typer.Option(None, help="Consumers in this process [2]."),
    redis_url: str | None = typer.Option(None, help="Redis URL [MEDSCRIBE_REDIS_URL]."),
    stream_prefix: str | None = typer.Option(None, help="Stream and key prefix [ms:]."),
    gateway_url: str | None = typer.Option(
        None, help="LLM Gateway base URL [MEDSCRIBE_LLM_GATEWAY_URL]."
    ),
    model: str | None = typer.Option(None, help="Model when the encounter names none."),
    fallback_model: list[str] | None = typer.Option(
        None, help="Gateway fallback model (repeatable)."
    ),
    rpm: int | None = typer.Option(None, help="Requests per minute per model, shared [30]."),
    consumer: str | None = typer.Option(None, help="Consumer name prefix [host-pid]."),
    claim_idle_ms: int | None = typer.Option(None, help="Reclaim turns idle this long."),
    health_port: int | None = typer.Option(None, help="Port of /healthz, /readyz, /metrics."),
) -> None:
    """Clean each final turn with the LLM Gateway and publish it to the edited stream."""
    from services.editor.config import EditorSettings

    overrides: dict[str, Any] = {
        "workers": workers,
        "redis_url": redis_url,
        "stream_prefix": stream_prefix,
        "llm_gateway_url": gateway_url,
        "default_model": model,
        "fallback_models": tuple(fallback_model) if fallback_model else None,
        "rpm_per_model": rpm,
        "consumer": consumer,
        "claim_idle_ms": claim_idle_ms,
        "health_port": health_port,
    }
    settings = settings_from(EditorSettings, **overrides)
    try:
        key = settings.require_llm_key()
    except MissingSetting as err:
        settings_error(err)
    try:
        aio.run(_main(settings, key), use_uvloop=settings.uvloop)
    except Exception as err:
        fail_on_no_permission(err, settings.redis_url)
        raise


async def _main(settings: Any, key: Any) -> None:
    from services.editor.service import run
    from shared.contracts import StreamNames
    from shared.gateway import GatewayClient
    from shared.logging import configure_logging
    from shared.redis_acl import startup_check
    from shared.streams import make_redis

    configure_logging(settings.log_level, settings.log_format, "editor")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    redis = make_redis(settings.redis_url, block_ms=settings.block_ms)
    gateway = GatewayClient(
        settings.llm_gateway_url,
        key,
        timeout=settings.gateway_timeout_s,
        max_attempts=settings.gateway_max_attempts,
        deadline_s=settings.gateway_deadline_s,
        backoff_base_s=settings.gateway_backoff_s,
        max_connections=settings.max_inflight,
    )
    try:
        await startup_check(
            redis, "editor", StreamNames(settings.stream_prefix), settings.redis_url
        )
        await run(settings, redis, gateway, stop)
    finally:
        await gateway.aclose()
        await redis.aclose()
