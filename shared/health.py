"""Health, readiness and Prometheus metrics over HTTP, for worker services.

    server = await HealthServer("127.0.0.1", 9101, ready=my_ready_check).start()
    ...
    await server.close()

``/healthz`` answers 200 while the process runs; ``/readyz`` answers 200 when the
readiness callback returns true within ``ready_timeout_s`` (503 otherwise, with the
reason code: the callback's :class:`~shared.readiness.NotReady` code, or the exception's
class name); ``/metrics`` is the prometheus-client registry in text format.
:class:`AsgiServer` (uvicorn on a socket bound here, port 0 allowed) is reused by the
simulators.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import socket
from collections.abc import Awaitable, Callable

import uvicorn
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp

from shared.logging import get_logger
from shared.readiness import NotReady

log = get_logger(__name__)

ReadyCheck = Callable[[], Awaitable[bool] | bool]


class AsgiServer:
    """Serve an ASGI app with uvicorn in this event loop, on a socket bound up front."""

    def __init__(self, app: ASGIApp, host: str = "127.0.0.1", port: int = 0) -> None:
        self.app = app
        self.host = host
        self.requested_port = port
        self.port = 0
        self._server: uvicorn.Server | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> AsgiServer:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.requested_port))
        self.port = int(sock.getsockname()[1])
        config = uvicorn.Config(
            self.app,
            log_level="warning",
            access_log=False,  # access lines would carry query strings
            lifespan="off",
            timeout_graceful_shutdown=1,
            log_config=None,
        )
        self._server = uvicorn.Server(config)
        self._task = asyncio.create_task(self._server.serve(sockets=[sock]))
        while not self._server.started:
            if self._task.done():
                sock.close()
                await self._task  # raises the start-up error
                raise RuntimeError("ASGI server exited during start-up")
            await asyncio.sleep(0.01)
        return self

    async def close(self) -> None:
        if self._server is None or self._task is None:
            return
        self._server.should_exit = True
        try:
            await asyncio.wait_for(asyncio.shield(self._task), 3.0)
        except TimeoutError:
            self._server.force_exit = True
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        self._server = None


def health_app(
    ready: ReadyCheck | None = None,
    *,
    registry: CollectorRegistry = REGISTRY,
    ready_timeout_s: float = 2.0,
) -> Starlette:
    async def healthz(_: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(_: Request) -> Response:
        if ready is None:
            return JSONResponse({"status": "ready"})
        try:
            result = ready()
            ok = (
                await asyncio.wait_for(result, ready_timeout_s)
                if inspect.isawaitable(result)
                else result
            )
            reason = "check_failed"
        except NotReady as err:  # the one reason the service cannot do its job
            ok, reason = False, err.code
        except TimeoutError:
            ok, reason = False, "check_timeout"
        except Exception as err:  # noqa: BLE001 - any failure means "not ready"
            ok, reason = False, type(err).__name__
        if ok:
            return JSONResponse({"status": "ready"})
        return JSONResponse({"status": "not_ready", "reason": reason}, status_code=503)

    async def metrics(_: Request) -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return Starlette(
        routes=[
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            Route("/metrics", metrics),
        ]
    )


class HealthServer(AsgiServer):
    """``/healthz``, ``/readyz`` (with ``ready`` callback) and ``/metrics`` on one port."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        ready: ReadyCheck | None = None,
        registry: CollectorRegistry = REGISTRY,
        ready_timeout_s: float = 2.0,
    ) -> None:
        app = health_app(ready, registry=registry, ready_timeout_s=ready_timeout_s)
        super().__init__(app, host, port)

    async def start(self) -> HealthServer:
        await super().start()
        log.info("health_server_started", host=self.host, port=self.port)
        return self
