"""`medscribe notes room ...` waits a few seconds for a Redis that is restarting (or a
container name that does not resolve yet) before it gives up, and changes nothing until
Redis answered."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from services.notes import room_admin
from shared.streams import make_redis
from tests.helpers.procs import RedisServer, free_port


async def test_an_admin_command_waits_for_redis_starting_up(tmp_path: Path) -> None:
    server = RedisServer(tmp_path / "r", port=free_port())
    client = make_redis(server.url)
    try:
        loop = asyncio.get_running_loop()
        loop.call_later(1.0, server.start)  # Redis comes back while the command waits
        await room_admin.reachable(client, attempts=20, wait_s=0.5)
        assert await client.ping()
    finally:
        await client.aclose()
        server.stop()


async def test_it_gives_up_with_the_connection_error() -> None:
    client = make_redis(f"redis://127.0.0.1:{free_port()}/0")
    try:
        with pytest.raises(RedisConnectionError):
            await room_admin.reachable(client, attempts=2, wait_s=0.05)
    finally:
        await client.aclose()
