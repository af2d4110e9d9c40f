"""Live follow over a real uvicorn server (serve_api on port 0) and real Redis streams."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy import update

from services.notes.api.server import serve_api
from services.notes.config import NotesSettings
from services.notes.db.engine import Database
from services.notes.db.models import ApiToken, Encounter, utcnow
from shared.contracts import EditedTurn, Flag, PartialTurn, QuotaWait, StreamNames
from shared.streams import publish
from tests.api.seeding import add_encounter, bearer

TIMEOUT = 20.0  # bounds a hang only; events normally arrive within a poll interval


@dataclass
class Event:
    event: str | None
    data: Any
    id: str | None
    comment: bool = False


async def sse_events(response: httpx.Response) -> AsyncIterator[Event]:
    """Parse text/event-stream into events (comments yielded as comment=True)."""
    event: str | None = None
    data: list[str] = []
    event_id: str | None = None
    async for line in response.aiter_lines():
        if line == "":
            if event is not None or data:
                yield Event(event, json.loads("\n".join(data)) if data else None, event_id)
            event, data, event_id = None, [], None
        elif line.startswith(":"):
            yield Event(None, line[1:].strip(), None, comment=True)
        else:
            key, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if key == "event":
                event = value
            elif key == "data":
                data.append(value)
            elif key == "id":
                event_id = value


@contextlib.asynccontextmanager
async def follow_events(
    base: str, encounter_id: str, token: str
) -> AsyncIterator[AsyncIterator[Event]]:
    """The live follow of one encounter, as its events."""
    url = f"{base}/v1/encounters/{encounter_id}/events"
    async with (
        asyncio.timeout(TIMEOUT),
        httpx.AsyncClient() as client,
        client.stream("GET", url, headers=bearer(token)) as response,
    ):
        assert response.status_code == 200
        yield sse_events(response)


@pytest.fixture
async def server(
    settings: NotesSettings, db: Database, redis: Any
) -> AsyncIterator[tuple[str, asyncio.Event]]:
    stop = asyncio.Event()
    bound: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(
        serve_api(settings, db, redis, stop, bound=bound, sse_heartbeat_s=0.3, sse_poll_s=0.1)
    )
    port = await asyncio.wait_for(bound, TIMEOUT)
    yield f"http://127.0.0.1:{port}", stop
    stop.set()
    await asyncio.wait_for(task, TIMEOUT)


def edited(encounter_id: str, seq: int, text: str) -> EditedTurn:
    return EditedTurn(
        encounter_id=encounter_id,
        seq=seq,
        stt_session_id="s1",
        turn_order=seq,
        text=text.lower(),
        start_ms=seq * 1000,
        end_ms=seq * 1000 + 900,
        speaker="B",
        edited_text=text,
        edit_status="edited",
        llm_model="claude-haiku-4-5-20251001",
        flags=(Flag(kind="medication", term="albuterol"),),
    )


async def _set_status(db: Database, encounter_id: str, status: str) -> None:
    async with db.session() as s:
        await s.execute(update(Encounter).where(Encounter.id == encounter_id).values(status=status))


async def test_live_turn_partial_status_and_end(
    server: tuple[str, asyncio.Event],
    db: Database,
    redis: Any,
    names: StreamNames,
    tokens: dict[str, str],
) -> None:
    base, _ = server
    enc = await add_encounter(db, clinician="dr-a", status="recording", note=None, turns=0)
    other = await add_encounter(db, clinician="dr-b", status="recording", note=None, turns=0)
    # Entries written before the client connects are history, not live.
    await publish(redis, names.edited, edited(enc.encounter_id, 0, "Old turn."))
    url = f"{base}/v1/encounters/{enc.encounter_id}/events"
    seen: list[Event] = []
    async with (
        asyncio.timeout(TIMEOUT),
        httpx.AsyncClient() as client,
        client.stream("GET", url, headers=bearer(tokens["clin-a"])) as response,
    ):
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        events = sse_events(response)
        first = await anext(events)
        assert (first.event, first.data) == ("status", {"status": "recording"})
        # Idle: heartbeats keep the connection alive.
        beat = await anext(events)
        assert beat.comment
        assert beat.data == "heartbeat"
        await publish(
            redis,
            names.partials(enc.encounter_id),
            PartialTurn(encounter_id=enc.encounter_id, text="I have been taking", at_ms=1200),
        )
        await publish(redis, names.edited, edited(other.encounter_id, 0, "Not this visit."))
        await publish(redis, names.edited, edited(enc.encounter_id, 1, "Albuterol twice a day."))
        async for ev in events:
            if not ev.comment:
                seen.append(ev)
            if ev.event == "turn":
                break
        await _set_status(db, enc.encounter_id, "transcribing")
        await _set_status(db, enc.encounter_id, "ready")
        async for ev in events:
            if not ev.comment:
                seen.append(ev)
    # The stream ended by itself once the encounter was final.
    kinds = [e.event for e in seen]
    assert kinds[:2] == ["partial", "turn"]
    assert seen[0].data == {"text": "I have been taking", "at_ms": 1200}
    assert seen[1].data == {
        "seq": 1,
        "speaker": "B",
        "start_ms": 1000,
        "end_ms": 1900,
        "text": "Albuterol twice a day.",
        "original_text": "albuterol twice a day.",
        "edit_status": "edited",
        "flags": [{"kind": "medication", "term": "albuterol", "assertion": "present"}],
    }
    assert kinds[-1] == "end"
    assert seen[-1].data == {"status": "ready"}
    assert {"status": "ready"} in [e.data for e in seen if e.event == "status"]
    assert all(e.id and e.id.startswith("p=") for e in seen if e.event in ("partial", "turn"))


async def test_turns_waiting_for_quota_are_announced_and_cleared(
    server: tuple[str, asyncio.Event],
    db: Database,
    redis: Any,
    names: StreamNames,
    tokens: dict[str, str],
) -> None:
    base, _ = server
    enc = await add_encounter(db, clinician="dr-a", status="recording", note=None, turns=0)
    mark = names.editor_quota_wait(enc.encounter_id)
    seen: list[Event] = []
    async with follow_events(base, enc.encounter_id, tokens["clin-a"]) as events:
        assert (await anext(events)).event == "status"
        await redis.set(mark, QuotaWait(turns=2, since_ms=1_700_000_000_000).model_dump_json())
        async for ev in events:
            if ev.event == "waiting":
                seen.append(ev)
                break
        await redis.delete(mark)
        async for ev in events:
            if ev.event == "waiting":
                seen.append(ev)
                break
        await _set_status(db, enc.encounter_id, "ready")
        async for ev in events:
            if ev.event == "end":
                break
    assert [e.data for e in seen] == [{"turns": 2, "since_ms": 1_700_000_000_000}, {"turns": 0}]


async def test_a_follow_ends_when_its_encounter_is_purged(
    server: tuple[str, asyncio.Event], db: Database, tokens: dict[str, str]
) -> None:
    base, _ = server
    enc = await add_encounter(db, clinician="dr-a", status="recording", note=None, turns=0)
    async with follow_events(base, enc.encounter_id, tokens["clin-a"]) as events:
        assert (await anext(events)).event == "status"
        await _set_status(db, enc.encounter_id, "purged")
        async for ev in events:
            if ev.event == "end":
                assert ev.data == {"status": "purged"}
                break


async def test_resume_with_last_event_id(
    server: tuple[str, asyncio.Event],
    db: Database,
    redis: Any,
    names: StreamNames,
    tokens: dict[str, str],
) -> None:
    base, _ = server
    enc = await add_encounter(db, clinician="dr-a", status="recording", note=None, turns=0)
    stream = names.partials(enc.encounter_id)
    first = await publish(
        redis, stream, PartialTurn(encounter_id=enc.encounter_id, text="one", at_ms=1)
    )
    await publish(redis, stream, PartialTurn(encounter_id=enc.encounter_id, text="two", at_ms=2))
    edited_tail = "0-0"
    last_id = f"p={first.decode()};e={edited_tail}"
    url = f"{base}/v1/encounters/{enc.encounter_id}/events"
    headers = {**bearer(tokens["staff"]), "Last-Event-ID": last_id}
    async with (
        asyncio.timeout(TIMEOUT),
        httpx.AsyncClient() as client,
        client.stream("GET", url, headers=headers) as response,
    ):
        async for ev in sse_events(response):
            if ev.event == "partial":
                assert ev.data == {"text": "two", "at_ms": 2}  # "one" was seen before
                break


async def test_server_stop_ends_open_streams(
    server: tuple[str, asyncio.Event], db: Database, tokens: dict[str, str]
) -> None:
    base, stop = server
    enc = await add_encounter(db, clinician="dr-a", status="recording", note=None, turns=0)
    url = f"{base}/v1/encounters/{enc.encounter_id}/events"
    async with (
        asyncio.timeout(TIMEOUT),
        httpx.AsyncClient() as client,
        client.stream("GET", url, headers=bearer(tokens["admin"])) as response,
    ):
        events = sse_events(response)
        assert (await anext(events)).event == "status"
        stop.set()
        with contextlib.suppress(httpx.RemoteProtocolError):
            async for _ev in events:
                pass  # drains until the server closes the stream


async def test_events_refused_before_streaming(
    server: tuple[str, asyncio.Event], db: Database, tokens: dict[str, str]
) -> None:
    base, _ = server
    enc = await add_encounter(db, clinician="dr-b", status="recording", note=None, turns=0)
    async with httpx.AsyncClient(timeout=TIMEOUT) as client:
        url = f"{base}/v1/encounters/{enc.encounter_id}/events"
        r = await client.get(url, headers=bearer(tokens["clin-a"]))
        assert r.status_code == 404  # another clinician's: like an unknown id
        assert r.headers["content-type"] == "application/json"
        r = await client.get(f"{base}/v1/encounters/nope/events", headers=bearer(tokens["staff"]))
        assert r.status_code == 404
        health = await client.get(f"{base}/readyz")
        assert health.json() == {
            "status": "ok",
            "checks": {"database": "ok", "redis": "ok", "schema": "ok"},
        }


async def test_browser_ticket_is_single_use_and_bound(
    server: tuple[str, asyncio.Event], db: Database, tokens: dict[str, str]
) -> None:
    """EventSource cannot send headers: a one-time ticket in the URL instead."""
    base, _ = server
    enc = await add_encounter(db, clinician="dr-a", status="ready")
    other = await add_encounter(db, clinician="dr-a", status="ready")
    async with httpx.AsyncClient(base_url=base, timeout=TIMEOUT) as client:
        issued = await client.post(
            f"/v1/encounters/{enc.encounter_id}/events/ticket", headers=bearer(tokens["clin-a"])
        )
        assert issued.status_code == 201
        body = issued.json()
        assert body["expires_in_s"] == 60
        # Bound to its encounter: useless for another one (and then spent).
        wrong = await client.get(
            f"/v1/encounters/{other.encounter_id}/events?ticket={body['ticket']}"
        )
        assert wrong.status_code == 401
        issued = await client.post(
            f"/v1/encounters/{enc.encounter_id}/events/ticket", headers=bearer(tokens["clin-a"])
        )
        url = issued.json()["url"]
        opened = await client.get(url)  # no Authorization header
        assert opened.status_code == 200
        assert "event: end" in opened.text  # a ready encounter: status, end
        again = await client.get(url)
        assert again.status_code == 401
        refused = await client.post(
            f"/v1/encounters/{enc.encounter_id}/events/ticket", headers=bearer(tokens["clin-b"])
        )
        assert refused.status_code == 404
        forged = await client.get(f"/v1/encounters/{enc.encounter_id}/events?ticket=st_forged")
        assert forged.status_code == 401


async def test_ticket_of_a_revoked_token_is_refused(
    server: tuple[str, asyncio.Event], db: Database, tokens: dict[str, str]
) -> None:
    base, _ = server
    enc = await add_encounter(db, clinician="dr-a", status="ready")
    async with httpx.AsyncClient(base_url=base, timeout=TIMEOUT) as client:
        issued = await client.post(
            f"/v1/encounters/{enc.encounter_id}/events/ticket", headers=bearer(tokens["staff"])
        )
        async with db.session() as s:
            await s.execute(
                update(ApiToken).where(ApiToken.name == "staff").values(revoked_at=utcnow())
            )
        r = await client.get(issued.json()["url"])
        assert r.status_code == 401
