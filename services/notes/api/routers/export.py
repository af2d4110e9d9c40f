"""FHIR export and the live follow (Server-Sent Events) of one encounter."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Header, HTTPException, Request
from fastapi.responses import Response, StreamingResponse
from redis.exceptions import RedisError
from sqlalchemy.exc import DBAPIError

from services.notes.api import queries, tickets
from services.notes.api.deps import (
    ApiContext,
    Caller,
    Ctx,
    StreamCaller,
    audited,
    check_encounter,
)
from services.notes.api.errors import error_responses
from services.notes.api.fhir import FHIR_MEDIA_TYPE, FhirExportError, SignedNote, export_document
from services.notes.api.live import (
    Positions,
    current_positions,
    follow,
    format_event,
    parse_last_event_id,
)
from services.notes.api.routers.encounters import EncounterIdPath
from services.notes.api.schemas import StreamTicket
from services.notes.api.transcripts import transcript_view
from services.notes.auth import Action
from services.notes.db import repo
from shared.logging import get_logger

log = get_logger(__name__)
router = APIRouter(prefix="/v1/encounters/{encounter_id}", tags=["export and live"])


@router.get(
    "/fhir",
    summary="The signed note as a FHIR R4B DocumentReference (transcript attached)",
    response_class=Response,
    responses={
        200: {
            "description": "A DocumentReference (FHIR 4.3, wire-compatible with R4 for this "
            "resource): LOINC 11506-3 progress note; the note and the transcript as base64 "
            "text/plain attachments.",
            "content": {"application/fhir+json": {"schema": {"type": "object"}}},
        },
        **error_responses(401, 403, 404, 409),
    },
)
async def export_fhir(
    encounter_id: EncounterIdPath, request: Request, ctx: Ctx, who: Caller
) -> Response:
    async with audited(ctx, request, who, Action.EXPORT_FHIR, encounter_id) as work:
        await check_encounter(work.session, who, Action.EXPORT_FHIR, encounter_id)
        enc = await repo.get_encounter(work.session, encounter_id)
        assert enc is not None
        note = await queries.latest_signed_note(work.session, encounter_id)
        if note is None or note.signed_at is None:
            raise HTTPException(409, "only a signed note can be exported")
        turns = await repo.list_turns(work.session, encounter_id)
        signed = SignedNote(
            encounter_id=encounter_id,
            version=note.version,
            kind=note.kind,
            text=note.text,
            signed_by=note.signed_by or who.name,
            signed_at=note.signed_at,
            clinician=enc.clinician,
            started_at=enc.started_at,
            stopped_at=enc.stopped_at,
            transcript_text=transcript_view(ctx.settings, enc, turns).text,
        )
        try:
            body = export_document(signed)
        except FhirExportError as err:
            log.warning("fhir_export_refused", encounter_id=encounter_id, reason=str(err))
            raise HTTPException(409, f"the note cannot be exported: {err}") from None
        work.target = f"v{note.version}"
    return Response(body, media_type=FHIR_MEDIA_TYPE)


@router.get(
    "/events",
    summary="Follow the encounter live (Server-Sent Events)",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "text/event-stream: `status`, `partial`, `turn` and `end` events; "
            "a `: heartbeat` comment every ~15 s. Resume with `Last-Event-ID`.",
            "content": {"text/event-stream": {"schema": {"type": "string"}}},
        },
        **error_responses(401, 403, 404),
    },
)
async def live_events(
    encounter_id: EncounterIdPath,
    request: Request,
    ctx: Ctx,
    who: StreamCaller,
    last_event_id: Annotated[str | None, Header(max_length=200)] = None,
) -> StreamingResponse:
    async with audited(ctx, request, who, Action.LIVE_FOLLOW, encounter_id) as work:
        await check_encounter(work.session, who, Action.LIVE_FOLLOW, encounter_id)
    del work
    start = parse_last_event_id(last_event_id)
    if start is None:
        start = await current_positions(ctx.redis, ctx.names, encounter_id)
    return StreamingResponse(
        _stream(ctx, encounter_id, start),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


@router.post(
    "/events/ticket",
    response_model=StreamTicket,
    status_code=201,
    summary="A one-time ticket to open the live stream from a browser's EventSource",
    responses=error_responses(401, 403, 404),
)
async def live_ticket(
    encounter_id: EncounterIdPath, request: Request, ctx: Ctx, who: Caller
) -> StreamTicket:
    """EventSource cannot send ``Authorization``: open ``url`` within 60 s instead (once)."""
    async with audited(ctx, request, who, Action.LIVE_FOLLOW, encounter_id) as work:
        await check_encounter(work.session, who, Action.LIVE_FOLLOW, encounter_id)
        ticket = await tickets.issue(ctx.redis, ctx.names, who.token_id, encounter_id)
        work.status = 201
        work.target = "ticket"
    return StreamTicket(
        ticket=ticket,
        expires_in_s=tickets.TICKET_TTL_S,
        url=f"/v1/encounters/{encounter_id}/events?ticket={ticket}",
    )


async def _stream(ctx: ApiContext, encounter_id: str, start: Positions) -> AsyncIterator[bytes]:
    async def read_status() -> str | None:
        async with ctx.db.session() as session:
            return await queries.encounter_status(session, encounter_id)

    ctx.metrics.live_followers.inc()
    try:
        async for frame in follow(
            ctx.redis,
            ctx.names,
            encounter_id,
            read_status,
            start,
            stopping=ctx.stopping,
            heartbeat_s=ctx.sse_heartbeat_s,
            poll_s=ctx.sse_poll_s,
        ):
            yield frame
    except (RedisError, DBAPIError) as err:
        # The stream has started (200 sent): say why it ends instead of cutting it.
        log.warning("live_follow_failed", encounter_id=encounter_id, error=type(err).__name__)
        yield format_event("error", {"detail": "live source unavailable; reconnect later"})
    finally:
        ctx.metrics.live_followers.dec()
