"""Reachability checks behind `medscribe check`: Redis, the database, AssemblyAI endpoints."""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx

from shared.contracts import StreamNames
from shared.redis_acl import SERVICES, require_permissions, url_user
from shared.streams import make_redis


@dataclass(frozen=True)
class CheckResult:
    name: str
    ok: bool
    detail: str
    elapsed_ms: int


async def _timed(name: str, probe: Awaitable[str]) -> CheckResult:
    start = time.perf_counter()
    try:
        detail: Any = await asyncio.wait_for(probe, 5.0)
        ok = True
    except Exception as err:  # noqa: BLE001 - every failure is a result to report
        detail, ok = f"{type(err).__name__}", False
        if isinstance(err, PermissionError):
            detail = str(err)
        elif isinstance(err, (OSError, httpx.HTTPError)) and str(err):
            detail += f": {str(err)[:120]}"
    return CheckResult(name, ok, str(detail), int((time.perf_counter() - start) * 1000))


async def check_redis(url: str) -> str:
    """Version, and for a service's own user (deploy/users.acl) whether it may run all that
    service runs: INFO is an admin command, so the version comes from HELLO."""
    client = make_redis(url)
    try:
        await client.ping()
        version = _hello_version(await client.execute_command("HELLO"))
        service = url_user(url)
        if service not in SERVICES:
            return f"redis {version}"
        problem = await require_permissions(client, service, StreamNames(), url)
        if problem is not None:
            raise PermissionError(problem)
        return f"redis {version}, user {service} may run all {service} needs"
    finally:
        await client.aclose()


def _hello_version(reply: Any) -> str:
    if isinstance(reply, dict):
        items = list(reply.items())
    else:
        items = list(zip(reply[::2], reply[1::2], strict=False))
    for key, value in items:
        if (key.decode() if isinstance(key, bytes) else str(key)) == "version":
            return value.decode() if isinstance(value, bytes) else str(value)
    return "?"


async def check_database(url: str) -> str:
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        from pathlib import Path

        if path and path != ":memory:" and not Path(path).parent.exists():
            return f"sqlite, folder {Path(path).parent} will be created on first start"
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        return engine.dialect.name
    finally:
        await engine.dispose()


async def check_websocket_host(url: str) -> str:
    parts = urlsplit(url)
    secure = parts.scheme == "wss"
    port = parts.port or (443 if secure else 80)
    ctx = ssl.create_default_context() if secure else None
    _reader, writer = await asyncio.open_connection(
        parts.hostname, port, ssl=ctx, server_hostname=parts.hostname if secure else None
    )
    writer.close()
    await writer.wait_closed()
    return f"{'TLS ' if secure else ''}connect to {parts.hostname}:{port} ok"


async def check_gateway(base_url: str) -> str:
    async with httpx.AsyncClient(timeout=5.0) as client:
        resp = await client.get(base_url.rstrip("/") + "/v1/models")
        if resp.status_code >= 500:
            raise httpx.HTTPStatusError(
                f"HTTP {resp.status_code}", request=resp.request, response=resp
            )
        return f"HTTP {resp.status_code}"


async def run_checks(
    redis_url: str, database_url: str, streaming_url: str, gateway_url: str
) -> list[CheckResult]:
    return list(
        await asyncio.gather(
            _timed("redis", check_redis(redis_url)),
            _timed("database", check_database(database_url)),
            _timed("assemblyai streaming", check_websocket_host(streaming_url)),
            _timed("llm gateway", check_gateway(gateway_url)),
        )
    )
