"""Encounters: list with filters and cursor, one with status and timings, its transcript."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query, Request
from fastapi.responses import PlainTextResponse, Response

from services.notes.api import queries
from services.notes.api.deps import FORBIDDEN
from services.notes.api.route_helpers import (
    PLAIN,
    Call,
    Cursor,
    PlainFilter,
    RouteCall,
    answers,
    same_named,
)
from services.notes.api.schemas import (
    ENCOUNTER_ID_PATTERN,
    EncounterDetail,
    EncounterPage,
    EncounterSearch,
    EncounterSummary,
    FlagOut,
    NoteRef,
    Timings,
    Transcript,
    TurnOut,
)
from services.notes.api.transcripts import transcript_view
from services.notes.auth import Action, Role
from services.notes.db import repo
from services.notes.db.models import Encounter
from services.notes.release import audio_kept_until
from services.notes.status import EncounterStatus
from services.notes.transcript import turn_text

router = APIRouter(prefix="/v1/encounters", tags=["encounters"])

EncounterIdPath = Annotated[
    str, Path(pattern=ENCOUNTER_ID_PATTERN, description="The encounter id.", max_length=64)
]


def _seconds(start: datetime | None, end: datetime | None) -> float | None:
    if start is None or end is None:
        return None
    return round((end - start).total_seconds(), 3)


def timings(e: Encounter) -> Timings:
    return Timings(
        recording_s=_seconds(e.started_at, e.stopped_at),
        transcription_lag_s=_seconds(e.stopped_at, e.transcribed_at),
        note_lag_s=_seconds(e.transcribed_at, e.note_at),
        total_s=_seconds(e.started_at, e.note_at),
    )


@router.get("", summary="List encounters", **answers(EncounterPage))
async def list_encounters(
    call: Call,
    status: Annotated[EncounterStatus | None, Query()] = None,
    room: PlainFilter = None,
    clinician: PlainFilter = None,
    started_after: Annotated[
        datetime | None, Query(description="Started at or after (ISO 8601; UTC if no zone).")
    ] = None,
    started_before: Annotated[datetime | None, Query(description="Started before.")] = None,
    q: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=200,
            pattern=PLAIN,
            description="Free text searched (case-insensitively) in the current note, the "
            "patient's name, the MRN and the encounter id.",
        ),
    ] = None,
    unassigned: Annotated[
        bool, Query(description="Only visits recorded without a clinician (to claim).")
    ] = False,
    cursor: Cursor = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> EncounterPage:
    """Newest first. Clinicians see only their own encounters, and the unassigned queue."""
    search = EncounterSearch.model_construct(
        status=status, room=room, clinician=clinician, started_after=started_after,
        started_before=started_before, q=q, unassigned=unassigned, cursor=cursor, limit=limit,
    )  # fmt: skip
    return await _list(call, search)


@router.post(
    "/search",
    summary="List encounters, filters in the body (keeps search words out of URLs)",
    **answers(EncounterPage),
)
async def search_encounters(body: EncounterSearch, call: Call) -> EncounterPage:
    """The same as ``GET /v1/encounters`` with the filters as JSON; audited as a list."""
    return await _list(call, body)


# The search's fields that the filter takes as they are (not the clinician, nor q: text).
_AS_FILTERED = {"status", "room", "started_after", "started_before", "unassigned", "to_sign"}


async def _list(call: RouteCall, search: EncounterSearch) -> EncounterPage:
    who = call.who
    clinician = search.clinician
    async with call.allowed(Action.ENCOUNTER_LIST) as work:
        if who.role is Role.CLINICIAN and not search.unassigned:
            if clinician is not None and clinician != who.clinician_id:
                raise HTTPException(403, FORBIDDEN)
            clinician = who.clinician_id
        filters = queries.EncounterFilter(
            **search.model_dump(include=_AS_FILTERED), clinician=clinician, text=search.q
        )
        rows, next_cursor = await queries.list_encounters(
            work.session, filters, search.cursor, search.limit
        )
        work.target = f"count={len(rows)}"
        return EncounterPage(
            items=[EncounterSummary.model_validate(r) for r in rows], next_cursor=next_cursor
        )


# The encounter's columns that the detail shows as they are, under their own names.
_AS_STORED = (
    "transcribed_at", "audio_ms", "expected_turns", "missing_seqs", "failure_stage",
    "failure_reason", "speaker_roles", "stt_audio_s", "stt_session_s",
)  # fmt: skip


@router.get(
    "/{encounter_id}",
    summary="One encounter with its status and timings",
    **answers(EncounterDetail, 404),
)
async def get_encounter(encounter_id: EncounterIdPath, call: Call) -> EncounterDetail:
    async with call.on_encounter(Action.ENCOUNTER_READ, encounter_id) as work:
        enc = await repo.get_encounter(work.session, encounter_id)
        assert enc is not None
        note = await repo.current_note(work.session, encounter_id)
        stored = await queries.count_turns(work.session, encounter_id)
        summary = EncounterSummary.model_validate(enc).model_dump()
        return EncounterDetail(
            **summary,
            **same_named(enc, _AS_STORED),
            stored_turns=stored,
            timings=timings(enc),
            note=NoteRef.model_validate(note) if note is not None else None,
            audio_released_at=enc.redis_released_at,
            audio_kept_until=(kept := audio_kept_until(enc, call.ctx.settings)),
            audio_warning=(
                f"transcription failed: the audio is kept for a replay until "
                f"{kept.isoformat(timespec='minutes')} and then deleted"
                if kept is not None
                else None
            ),
        )


def wants_text(request: Request) -> bool:
    """Accept negotiation between JSON (default) and the text/plain export format."""
    best, best_q = "application/json", -1.0
    for part in request.headers.get("accept", "").split(","):
        media, _, params = part.strip().partition(";")
        q = 1.0
        for param in params.split(";"):
            key, _, value = param.strip().partition("=")
            if key == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        media = media.strip().lower()
        if media in ("text/plain", "application/json") and q > best_q:
            best, best_q = media, q
    return best == "text/plain"


@router.get(
    "/{encounter_id}/transcript",
    summary="The encounter's transcript (JSON turns, or text/plain export format)",
    **answers(
        Transcript,
        404,
        text="JSON turns, or `[HH:MM:SS] Speaker: text` lines with `Accept: text/plain`.",
    ),
)
async def get_transcript(encounter_id: EncounterIdPath, call: Call) -> Response | Transcript:
    as_text = wants_text(call.request)
    async with call.on_encounter(Action.TRANSCRIPT_READ, encounter_id) as work:
        enc = await repo.get_encounter(work.session, encounter_id)
        assert enc is not None
        turns = await repo.list_turns(work.session, encounter_id)
        work.target = "text" if as_text else "json"
    view = transcript_view(call.ctx.settings, enc, turns)
    if as_text:
        return PlainTextResponse(view.text)
    return Transcript(
        encounter_id=encounter_id,
        status=enc.status,
        expected_turns=enc.expected_turns,
        missing_seqs=view.missing,
        turns=[
            TurnOut(
                seq=t.seq,
                speaker=t.speaker,
                speaker_role=t.role or (view.roles.get(t.speaker) if t.speaker else None),
                role_corrected=t.role is not None,
                start_ms=t.start_ms,
                end_ms=t.end_ms,
                text=turn_text(t),
                original_text=t.original_text,
                edit_status=t.edit_status,
                flags=[
                    FlagOut(
                        kind=str(f.get("kind", "")),
                        term=str(f.get("term", "")),
                        assertion=str(f.get("assertion", "present")),
                    )
                    for f in (t.flags or [])
                    if isinstance(f, dict)
                ],
            )
            for t in turns
        ],
    )
