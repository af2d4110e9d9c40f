"""Issue 20 item 2: an open live stream ends soon after its token is revoked or its
console session ends (over a real uvicorn server and real Redis streams)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from services.notes.api.server import serve_api
from services.notes.config import NotesSettings
from services.notes.db.engine import Database
from tests.api.seeding import add_encounter, bearer, token_id
from tests.api.test_live_events import sse_events
from tests.kit.console import csrf_of, sign_in

TIMEOUT = 20.0  # bounds a hang only


@pytest.fixture
async def base(settings: NotesSettings, db: Database, redis: Any) -> AsyncIterator[str]:
    stop = asyncio.Event()
    bound: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(
        serve_api(settings, db, redis, stop, bound=bound, sse_heartbeat_s=0.3, sse_poll_s=0.1)
    )
    yield f"http://127.0.0.1:{await asyncio.wait_for(bound, TIMEOUT)}"
    stop.set()
    await asyncio.wait_for(task, TIMEOUT)


async def _events_until_closed(response: httpx.Response, started: asyncio.Event) -> list[Any]:
    seen = []
    async for ev in sse_events(response):
        if not ev.comment:
            seen.append((ev.event, ev.data))
            started.set()
    return seen


async def test_revoking_the_token_ends_its_open_stream(
    base: str, db: Database, tokens: dict[str, str]
) -> None:
    enc = await add_encounter(db, clinician="dr-a", status="recording", note=None, turns=0)
    async with httpx.AsyncClient(base_url=base, timeout=TIMEOUT) as client:
        url = f"/v1/encounters/{enc.encounter_id}/events"
        async with client.stream("GET", url, headers=bearer(tokens["clin-a"])) as response:
            assert response.status_code == 200
            started = asyncio.Event()
            reader = asyncio.create_task(_events_until_closed(response, started))
            await asyncio.wait_for(started.wait(), TIMEOUT)
            victim = await token_id(db, "clin-a")
            revoked = await client.delete(f"/v1/tokens/{victim}", headers=bearer(tokens["admin"]))
            assert revoked.status_code == 200
            events = await asyncio.wait_for(reader, TIMEOUT)  # the server closed the stream
    assert events[0] == ("status", {"status": "recording"})
    assert events[-1][0] == "error"
    assert "access ended" in events[-1][1]["detail"]


async def test_signing_out_ends_the_consoles_open_stream(
    base: str, db: Database, tokens: dict[str, str]
) -> None:
    enc = await add_encounter(db, clinician="dr-a", status="recording", note=None, turns=0)
    async with httpx.AsyncClient(base_url=base, timeout=TIMEOUT) as client:
        assert (await sign_in(client, tokens["clin-a"])).status_code == 303
        csrf = csrf_of((await client.get(f"/encounters/{enc.encounter_id}")).text)
        url = f"/v1/encounters/{enc.encounter_id}/events"
        async with client.stream("GET", url) as response:  # the session cookie only
            assert response.status_code == 200
            started = asyncio.Event()
            reader = asyncio.create_task(_events_until_closed(response, started))
            await asyncio.wait_for(started.wait(), TIMEOUT)
            out = await client.post("/signout", data={"csrf_token": csrf})
            assert out.status_code == 303
            events = await asyncio.wait_for(reader, TIMEOUT)
    assert events[-1][0] == "error"
    assert "access ended" in events[-1][1]["detail"]
