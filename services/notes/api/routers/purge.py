"""Purging one encounter's patient data on request (admin; audited, the audit row stays)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import APIRouter, Path, Request
from sqlalchemy.ext.asyncio import AsyncSession

from services.notes.api.deps import Caller, Ctx, audited, require
from services.notes.api.errors import error_responses
from services.notes.api.schemas import ENCOUNTER_ID_PATTERN, PurgeRequest, PurgeResult
from services.notes.auth import Action
from services.notes.domain.purge import purge_encounter as run_purge
from services.notes.status import EncounterStatus

router = APIRouter(prefix="/v1/encounters", tags=["retention"])


@router.post(
    "/{encounter_id}/purge",
    response_model=PurgeResult,
    summary="Remove an encounter's transcript, notes, files and audio (admin)",
    responses=error_responses(401, 403, 404, 409),
)
async def purge_encounter(
    body: PurgeRequest,
    request: Request,
    ctx: Ctx,
    who: Caller,
    encounter_id: Annotated[str, Path(pattern=ENCOUNTER_ID_PATTERN)],
) -> PurgeResult:
    """The encounter row (room, times, status ``purged``) and the audit log stay. A signed
    note is part of the medical record: its purge needs ``confirm_signed``. Repeating a
    purge is harmless (it finishes one that was interrupted)."""

    @asynccontextmanager
    async def transaction() -> AsyncIterator[AsyncSession]:
        async with audited(ctx, request, who, Action.ENCOUNTER_PURGE, encounter_id) as work:
            require(who, Action.ENCOUNTER_PURGE)
            yield work.session
            work.target = "signed" if body.confirm_signed else None

    # The database is committed first: files and Redis follow (a retry redoes them).
    counts = await run_purge(
        transaction(),
        ctx.redis,
        ctx.names,
        ctx.settings.export_dir,
        encounter_id,
        signed_ok=body.confirm_signed,
    )
    return PurgeResult(
        encounter_id=encounter_id,
        status=EncounterStatus.PURGED,
        turns=counts.turns,
        note_versions=counts.note_versions,
        export_folders=counts.export_folders,
        redis_keys=counts.redis_keys,
    )
