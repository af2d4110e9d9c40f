"""Serve the staff API inside the notes service's event loop until ``stop`` is set."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

from services.notes.api import proxies
from services.notes.api.app import context, create_app
from services.notes.config import NotesSettings
from services.notes.db.engine import Database
from services.notes.serve import serve


def _applier(app: Any) -> Callable[[tuple[proxies.Network, ...]], None]:
    def apply(networks: tuple[proxies.Network, ...]) -> None:
        context(app).trusted_proxies = networks

    return apply


async def serve_api(
    settings: NotesSettings,
    db: Database,
    redis: Any,
    stop: asyncio.Event,
    *,
    bound: asyncio.Future[int] | None = None,
    **app_options: Any,
) -> None:
    """Run the API on ``settings.api_host:api_port`` until ``stop``; ``bound`` gets the port.

    Trusted proxies named by host name are resolved again while it runs.
    """
    app = create_app(settings, db, redis, **app_options)
    static, names = proxies.split_entries(settings.trusted_proxies)
    resolver = (
        asyncio.create_task(proxies.keep_resolved(static, names, _applier(app), stop))
        if names
        else None
    )
    try:
        await serve(
            app,
            settings.api_host,
            settings.api_port,
            stop,
            name="api",
            bound=bound,
            on_stop=context(app).stopping.set,  # ends the live streams
        )
    finally:
        if resolver is not None:
            resolver.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await resolver
        await context(app).live_redis.aclose()
        if context(app).redis_admin is not None:
            await context(app).redis_admin.aclose()
