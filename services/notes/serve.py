"""The one place the notes service configures uvicorn: its ASGI apps (the staff API, the
separate health port) run in the service's event loop until ``stop`` is set."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Callable, Iterator

import uvicorn
from starlette.types import ASGIApp

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


class _Server(uvicorn.Server):
    """uvicorn without its own SIGINT/SIGTERM handlers: the notes service owns signals
    and stops us through ``stop``."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _config(app: ASGIApp) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        # The access log would print query strings (``?q=`` searches note text); the API
        # logs each request itself, with the route template only.
        access_log=False,
        log_config=None,  # keep our structlog handlers
        lifespan="off",
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
        server_header=False,
        # Forwarded headers are handled by the app, from trusted_proxies only.
        proxy_headers=False,
    )


async def serve(
    app: ASGIApp,
    host: str,
    port: int,
    stop: asyncio.Event,
    *,
    name: str,
    bound: asyncio.Future[int] | None = None,
    on_stop: Callable[[], None] | None = None,
) -> None:
    """Serve ``app`` on ``host:port`` until ``stop``; ``bound`` gets the port (or the
    start-up failure). ``on_stop`` runs first when stopping (the API ends its live
    streams). Logs ``<name>_listening`` and ``<name>_stopped`` with the port."""
    server = _Server(_config(app))
    sock = bind(host, port)
    port = int(sock.getsockname()[1])
    log.info(f"{name}_listening", host=host, port=port)

    async def stopper() -> None:
        await stop.wait()
        if on_stop is not None:
            on_stop()
        server.should_exit = True

    stop_task = asyncio.create_task(stopper())
    serve_task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started and not serve_task.done():  # noqa: ASYNC110 - uvicorn has no event
            await asyncio.sleep(0.02)
        if bound is not None and not bound.done():
            if server.started:
                bound.set_result(port)
            else:
                bound.set_exception(RuntimeError(f"the {name} server did not start"))
        await serve_task
    finally:
        stop_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await stop_task
        if not serve_task.done():
            server.should_exit = True
            with contextlib.suppress(asyncio.CancelledError):
                await serve_task
        sock.close()
        log.info(f"{name}_stopped", port=port)
