"""FHIR export and the live follow (Server-Sent Events) of one encounter."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Header, HTTPException, Request
from fastapi.responses import Response, StreamingResponse
from redis.exceptions import RedisError
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.background import BackgroundTask

from services.notes.api import console_sessions, live, queries, tickets
from services.notes.api.deps import ApiContext, Ctx, StreamCaller, audited_encounter
from services.notes.api.errors import error_responses
from services.notes.api.fhir import FHIR_MEDIA_TYPE, FhirExportError, SignedNote, export_document
from services.notes.api.route_helpers import Call, answers
from services.notes.api.routers.encounters import EncounterIdPath
from services.notes.api.schemas import StreamTicket
from services.notes.api.transcripts import transcript_view
from services.notes.auth import Action
from services.notes.db import repo
from services.notes.db.models import ApiToken
from shared.errors import MedscribeError
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
async def export_fhir(encounter_id: EncounterIdPath, call: Call) -> Response:
    async with call.on_encounter(Action.EXPORT_FHIR, encounter_id) as work:
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
            signed_by=note.signed_by or call.who.name,
            signed_at=note.signed_at,
            clinician=enc.clinician,
            started_at=enc.started_at,
            stopped_at=enc.stopped_at,
            transcript_text=transcript_view(call.ctx.settings, enc, turns).text,
            patient_name=enc.patient_name,
            patient_mrn=enc.patient_mrn,
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
        **error_responses(401, 403, 404, 429),
    },
)
async def live_events(
    encounter_id: EncounterIdPath,
    request: Request,
    ctx: Ctx,
    who: StreamCaller,
    last_event_id: Annotated[str | None, Header(max_length=200)] = None,
) -> StreamingResponse:
    async with audited_encounter(ctx, request, who, Action.LIVE_FOLLOW, encounter_id) as work:
        work.target = "stream"
    del work
    slot = LiveSlot.take(ctx, who.token_id)
    try:
        start = live.parse_last_event_id(last_event_id)
        if start is None:
            start = await live.current_positions(ctx.live_redis, ctx.names, encounter_id)
    except BaseException:
        slot.release()
        raise
    # Opened with the console's cookie (no header, no ticket): the session must stay live.
    session_id = None
    if "authorization" not in request.headers and "ticket" not in request.query_params:
        session_id = request.cookies.get(console_sessions.COOKIE)
    access = Access(who.token_id, session_id)
    return StreamingResponse(
        _stream(ctx, encounter_id, start, access, slot),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        # Also released here: a client gone before the first frame never runs the stream.
        background=BackgroundTask(slot.release),
    )


@router.post(
    "/events/ticket",
    summary="A one-time ticket to open the live stream from a browser's EventSource",
    **answers(StreamTicket, 404, status_code=201),
)
async def live_ticket(encounter_id: EncounterIdPath, call: Call) -> StreamTicket:
    """EventSource cannot send ``Authorization``: open ``url`` within 60 s instead (once)."""
    async with call.on_encounter(Action.LIVE_FOLLOW, encounter_id) as work:
        ticket = await tickets.issue(
            call.ctx.redis, call.ctx.names, call.who.token_id, encounter_id
        )
        work.status = 201
        work.target = "ticket"
    return StreamTicket(
        ticket=ticket,
        expires_in_s=tickets.TICKET_TTL_S,
        url=f"/v1/encounters/{encounter_id}/events?ticket={ticket}",
    )


TOO_MANY_STREAMS = "too many open live streams; close one and try again"


@dataclass
class LiveSlot:
    """One open live stream counted against its token and the replica (released once)."""

    ctx: ApiContext
    token_id: int
    released: bool = False

    @classmethod
    def take(cls, ctx: ApiContext, token_id: int) -> LiveSlot:
        """A slot, or 429 when the token or the replica holds its maximum already."""
        settings = ctx.settings
        if (
            ctx.live_total >= settings.live_max_total
            or ctx.live_by_token.get(token_id, 0) >= settings.live_max_per_token
        ):
            ctx.metrics.live_refused.inc()
            raise HTTPException(429, TOO_MANY_STREAMS, headers={"Retry-After": "5"})
        ctx.live_total += 1
        ctx.live_by_token[token_id] = ctx.live_by_token.get(token_id, 0) + 1
        ctx.metrics.live_followers.inc()
        return cls(ctx, token_id)

    def release(self) -> None:
        if self.released:
            return
        self.released = True
        ctx = self.ctx
        ctx.live_total -= 1
        left = ctx.live_by_token.get(self.token_id, 1) - 1
        if left > 0:
            ctx.live_by_token[self.token_id] = left
        else:
            ctx.live_by_token.pop(self.token_id, None)
        ctx.metrics.live_followers.dec()


class AccessEnded(MedscribeError):
    """The stream's token was revoked or its console session ended (raised without a
    message)."""


@dataclass(frozen=True)
class Access:
    """What opened a stream, re-checked at every status poll (about once a second)."""

    token_id: int
    session_id: str | None = None

    async def still_valid(self, session: AsyncSession, ctx: ApiContext) -> bool:
        token = await session.get(ApiToken, self.token_id)
        if token is None or token.revoked_at is not None:
            return False
        if self.session_id is None:
            return True
        lifetimes = console_sessions.Lifetimes.of(ctx.settings)
        return await console_sessions.resolve(session, self.session_id, lifetimes) is not None


ACCESS_ENDED = "access ended (token revoked or session over); sign in again"


async def _stream(
    ctx: ApiContext, encounter_id: str, start: live.Positions, access: Access, slot: LiveSlot
) -> AsyncIterator[bytes]:
    async def read_status() -> str | None:
        async with ctx.db.session() as session:
            valid = await access.still_valid(session, ctx)
            status = await queries.encounter_status(session, encounter_id)
        # Raised after the block: an ended session's removal is committed.
        if not valid:
            raise AccessEnded
        return status

    try:
        async for frame in live.follow(
            ctx.live_redis,
            ctx.names,
            encounter_id,
            read_status,
            start,
            stopping=ctx.stopping,
            heartbeat_s=ctx.sse_heartbeat_s,
            poll_s=ctx.sse_poll_s,
        ):
            yield frame
    except AccessEnded:
        log.info("live_follow_access_ended", encounter_id=encounter_id)
        yield live.format_event("error", {"detail": ACCESS_ENDED})
    except (RedisError, DBAPIError) as err:
        # The stream has started (200 sent): say why it ends instead of cutting it.
        log.warning("live_follow_failed", encounter_id=encounter_id, error=type(err).__name__)
        yield live.format_event("error", {"detail": "live source unavailable; reconnect later"})
    finally:
        slot.release()
