"""Issue 20 item 4: the body limit is the project's own, streamed bodies included, and the
console's form reader never reads more than its 4 KiB."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
from fastapi import FastAPI
from sqlalchemy import func, select
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from services.notes.api.body_limit import BodyLimitMiddleware
from services.notes.api.console.routes import MAX_FORM_BYTES
from services.notes.db.engine import Database
from services.notes.db.models import Note
from tests.api.seeding import add_encounter, bearer

CHUNK = 1024


class Chunks:
    """A streamed (chunked, no Content-Length) body that counts what was pulled from it."""

    def __init__(self, total: int, chunk: int = CHUNK) -> None:
        self.total, self.chunk, self.pulled = total, chunk, 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while self.pulled * self.chunk < self.total:
            self.pulled += 1
            yield b"x" * self.chunk


async def _echo_length(request: Request) -> PlainTextResponse:
    return PlainTextResponse(str(len(await request.body())))


def bare_app(limit: int) -> Starlette:
    """A plain Starlette app: no FastAPI body limit anywhere, only the middleware."""
    app = Starlette(routes=[Route("/echo", _echo_length, methods=["POST"])])
    app.add_middleware(BodyLimitMiddleware, max_bytes=limit)
    return app


async def test_middleware_limits_any_app_declared_and_streamed() -> None:
    transport = httpx.ASGITransport(app=bare_app(8 * CHUNK))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        ok = await client.post("/echo", content=b"y" * 8 * CHUNK)
        assert (ok.status_code, ok.text) == (200, str(8 * CHUNK))
        declared = await client.post("/echo", content=b"y" * (8 * CHUNK + 1))
        assert declared.status_code == 413
        assert "too large" in declared.json()["detail"]
        streamed = Chunks(1000 * CHUNK)
        refused = await client.post("/echo", content=streamed)
        assert refused.status_code == 413
        assert streamed.pulled <= 9  # stopped right past the limit, not after 1000 chunks


async def test_a_streamed_oversized_note_edit_is_413_and_read_only_to_the_limit(
    client: httpx.AsyncClient, app: FastAPI, db: Database, tokens: dict[str, str]
) -> None:
    enc = await add_encounter(db)
    body = Chunks(3 * 1024 * 1024, chunk=64 * 1024)
    r = await client.put(
        f"/v1/encounters/{enc.encounter_id}/note",
        content=body,
        headers={
            **bearer(tokens["clin-a"]),
            "If-Match": '"v1"',
            "Content-Type": "application/json",
        },
    )
    assert r.status_code == 413, r.text
    assert body.pulled <= 17  # 1 MiB is 16 chunks of 64 KiB
    async with db.session() as s:
        count = await s.scalar(
            select(func.count()).select_from(Note).where(Note.encounter_id == enc.encounter_id)
        )
    assert count == 1


async def test_console_form_reader_stops_at_its_limit(client: httpx.AsyncClient) -> None:
    body = Chunks(256 * CHUNK)
    r = await client.post(
        "/signin",
        content=body,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert r.status_code == 413
    assert body.pulled <= MAX_FORM_BYTES // CHUNK + 1
    declared = await client.post(
        "/signin",
        content=b"token=" + b"a" * MAX_FORM_BYTES,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert declared.status_code == 413
