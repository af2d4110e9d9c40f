"""Issue 20 item 3: open live streams are limited per token and per replica (429), and
read Redis through their own pool, so the API keeps answering (real uvicorn, real Redis)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from services.notes.api.app import context, create_app
from services.notes.api.server import serve_api
from services.notes.config import NotesSettings
from services.notes.db.engine import Database
from tests.api.seeding import add_encounter, bearer

TIMEOUT = 20.0  # bounds a hang only


@pytest.fixture
async def base(settings: NotesSettings, db: Database, redis: Any) -> AsyncIterator[str]:
    limited = settings.model_copy(update={"live_max_per_token": 2, "live_max_total": 3})
    stop = asyncio.Event()
    bound: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(
        serve_api(limited, db, redis, stop, bound=bound, sse_heartbeat_s=0.3, sse_poll_s=0.1)
    )
    yield f"http://127.0.0.1:{await asyncio.wait_for(bound, TIMEOUT)}"
    stop.set()
    await asyncio.wait_for(task, TIMEOUT)


async def _open(
    stack: contextlib.AsyncExitStack, client: httpx.AsyncClient, url: str, secret: str
) -> httpx.Response:
    response = await stack.enter_async_context(client.stream("GET", url, headers=bearer(secret)))
    if response.status_code == 200:
        # Wait for the first frame: the stream is really open. The line iterator is kept
        # (an abandoned one is finalised, and that closes the response).
        lines = response.aiter_lines()
        response.extensions["test_lines"] = lines
        await anext(lines)
    return response


async def test_streams_are_limited_per_token_and_in_total(
    base: str, db: Database, tokens: dict[str, str]
) -> None:
    enc = await add_encounter(db, clinician="dr-a", status="recording", note=None, turns=0)
    url = f"/v1/encounters/{enc.encounter_id}/events"
    async with httpx.AsyncClient(base_url=base, timeout=TIMEOUT) as client:
        async with contextlib.AsyncExitStack() as stack:
            first = await _open(stack, client, url, tokens["clin-a"])
            second = await _open(stack, client, url, tokens["clin-a"])
            assert (first.status_code, second.status_code) == (200, 200)
            third = await _open(stack, client, url, tokens["clin-a"])
            assert third.status_code == 429
            await third.aread()
            assert third.json() == {"detail": "too many open live streams; close one and try again"}
            assert int(third.headers["retry-after"]) > 0
            other = await _open(stack, client, url, tokens["staff"])
            assert other.status_code == 200
            # The replica's total (3) is reached: any token is refused now.
            refused = await _open(stack, client, url, tokens["admin"])
            assert refused.status_code == 429
            # ... while the API and readiness keep answering.
            listed = await client.get("/v1/encounters", headers=bearer(tokens["staff"]))
            assert listed.status_code == 200
            assert (await client.get("/readyz")).json()["status"] == "ok"
            metrics = (await client.get("/metrics")).text
            assert "medscribe_api_live_followers 3.0" in metrics
            assert "medscribe_api_live_refused_total 2.0" in metrics
        # Closed streams give their slots back (the server notices within a poll).
        for _ in range(200):
            async with contextlib.AsyncExitStack() as stack:
                again = await _open(stack, client, url, tokens["clin-a"])
                if again.status_code == 200:
                    break
            await asyncio.sleep(0.05)
        else:
            pytest.fail("slots were not released")


async def test_live_streams_have_their_own_redis_pool(
    settings: NotesSettings, db: Database, redis: Any
) -> None:
    ctx = context(create_app(settings, db, redis))
    try:
        assert ctx.live_redis is not redis
        assert ctx.live_redis.connection_pool is not redis.connection_pool
        assert ctx.live_redis.connection_pool.max_connections == settings.live_max_total
    finally:
        await ctx.live_redis.aclose()
