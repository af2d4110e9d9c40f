"""Serve the staff API inside the notes service's event loop until ``stop`` is set."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Callable, Iterator
from typing import Any

import uvicorn

from services.notes.api import proxies
from services.notes.api.app import context, create_app
from services.notes.config import NotesSettings
from services.notes.db.engine import Database
from shared.logging import get_logger

log = get_logger(__name__)

# Open live streams (SSE) end when the service stops; this bounds the wait for the rest.
GRACEFUL_SHUTDOWN_S = 5


def bind(host: str, port: int) -> socket.socket:
    """A listening socket (port 0 = any free port), so the caller knows the real port."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(128)
    sock.setblocking(False)
    return sock


def _applier(app: Any) -> Callable[[tuple[proxies.Network, ...]], None]:
    def apply(networks: tuple[proxies.Network, ...]) -> None:
        context(app).trusted_proxies = networks

    return apply


class _Server(uvicorn.Server):
    """uvicorn without its own SIGINT/SIGTERM handlers: the notes service owns signals
    and stops us through ``stop``."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def serve_api(
    settings: NotesSettings,
    db: Database,
    redis: Any,
    stop: asyncio.Event,
    *,
    bound: asyncio.Future[int] | None = None,
    **app_options: Any,
) -> None:
    """Run uvicorn on ``settings.api_host:api_port`` until ``stop``; ``bound`` gets the port.

    uvicorn's access log is off: it would print query strings (``?q=`` searches note
    text). The app logs each request itself, with the route template only.
    """
    app = create_app(settings, db, redis, **app_options)
    config = uvicorn.Config(
        app,
        access_log=False,
        log_config=None,  # keep our structlog handlers
        lifespan="off",
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
        server_header=False,
        # Forwarded headers are handled by the app, from trusted_proxies only.
        proxy_headers=False,
    )
    server = _Server(config)
    sock = bind(settings.api_host, settings.api_port)
    port = int(sock.getsockname()[1])
    log.info("api_listening", host=settings.api_host, port=port)

    async def stopper() -> None:
        await stop.wait()
        context(app).stopping.set()  # ends the live streams
        server.should_exit = True

    stop_task = asyncio.create_task(stopper())
    static, names = proxies.split_entries(settings.trusted_proxies)
    resolver = (
        asyncio.create_task(proxies.keep_resolved(static, names, _applier(app), stop))
        if names
        else None
    )
    serve_task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started and not serve_task.done():  # noqa: ASYNC110 - uvicorn has no event
            await asyncio.sleep(0.02)
        if bound is not None and not bound.done():
            if server.started:
                bound.set_result(port)
            else:
                bound.set_exception(RuntimeError("the staff API did not start"))
        await serve_task
    finally:
        for task in (stop_task, resolver):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if not serve_task.done():
            server.should_exit = True
            with contextlib.suppress(asyncio.CancelledError):
                await serve_task
        sock.close()
        await context(app).live_redis.aclose()
        if context(app).redis_admin is not None:
            await context(app).redis_admin.aclose()
        log.info("api_stopped", port=port)
