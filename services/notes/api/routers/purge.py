"""Purging one encounter's patient data on request (admin; audited, the audit row stays)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import asdict
from typing import Annotated

from fastapi import APIRouter, Path
from sqlalchemy.ext.asyncio import AsyncSession

from services.notes.api.route_helpers import Call, answers
from services.notes.api.schemas import ENCOUNTER_ID_PATTERN, PurgeRequest, PurgeResult
from services.notes.auth import Action
from services.notes.domain.purge import purge_encounter as run_purge
from services.notes.status import EncounterStatus

router = APIRouter(prefix="/v1/encounters", tags=["retention"])


@router.post(
    "/{encounter_id}/purge",
    summary="Remove an encounter's transcript, notes, files and audio (admin)",
    **answers(PurgeResult, 404, 409),
)
async def purge_encounter(
    body: PurgeRequest, call: Call, encounter_id: Annotated[str, Path(pattern=ENCOUNTER_ID_PATTERN)]
) -> PurgeResult:
    """The encounter row (room, times, status ``purged``) and the audit log stay. A signed
    note is part of the medical record: its purge needs ``confirm_signed``. Repeating a
    purge is harmless (it finishes one that was interrupted)."""

    @asynccontextmanager
    async def transaction() -> AsyncIterator[AsyncSession]:
        async with call.allowed(Action.ENCOUNTER_PURGE, encounter_id) as work:
            yield work.session
            work.target = "signed" if body.confirm_signed else None

    # The database is committed first: files and Redis follow (a retry redoes them).
    ctx = call.ctx
    counts = await run_purge(
        transaction(),
        ctx.redis,
        ctx.names,
        ctx.settings.export_dir,
        encounter_id,
        signed_ok=body.confirm_signed,
    )
    return PurgeResult(encounter_id=encounter_id, status=EncounterStatus.PURGED, **asdict(counts))
