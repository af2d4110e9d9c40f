"""The clinician's unsaved edit, kept on the server as they type.

The console saves the form here a moment after each change, so an ended session, a closed
tab or a crashed browser loses nothing, and no note text is ever put in browser storage.
A draft is its author's alone; saving the note or signing it removes it.
"""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request, Response

from services.notes.api.deps import Caller, Ctx, audited_encounter
from services.notes.api.errors import error_responses
from services.notes.api.routers.encounters import EncounterIdPath
from services.notes.api.schemas import DraftIn, DraftOut, SectionsOut
from services.notes.auth import Action
from services.notes.db import repo
from services.notes.db.models import NoteDraft
from services.notes.domain import notes

router = APIRouter(prefix="/v1/encounters/{encounter_id}/note/draft", tags=["notes"])

NO_DRAFT = "you have no unsaved draft of this note"
SECTION_KEYS = ("subjective", "objective", "assessment", "plan")


def draft_out(draft: NoteDraft) -> DraftOut:
    sections = draft.sections if isinstance(draft.sections, dict) else {}
    return DraftOut(
        encounter_id=draft.encounter_id,
        author=draft.author,
        base_version=draft.base_version,
        sections=SectionsOut(**{k: [str(i) for i in sections.get(k) or []] for k in SECTION_KEYS}),
        updated_at=draft.updated_at,
    )


@router.get(
    "",
    response_model=DraftOut,
    summary="Your unsaved draft of the note, if any",
    responses=error_responses(401, 403, 404),
)
async def get_draft(
    encounter_id: EncounterIdPath, request: Request, ctx: Ctx, who: Caller
) -> DraftOut:
    async with audited_encounter(ctx, request, who, Action.NOTE_DRAFT, encounter_id) as work:
        draft = await repo.get_draft(work.session, encounter_id, who.name)
        if draft is None:
            raise HTTPException(404, NO_DRAFT)
        work.target = "read"
        return draft_out(draft)


@router.put(
    "",
    response_model=DraftOut,
    summary="Keep your unsaved edit (replaces your previous draft)",
    responses=error_responses(401, 403, 404, 409, 413),
)
async def put_draft(
    encounter_id: EncounterIdPath, body: DraftIn, request: Request, ctx: Ctx, who: Caller
) -> DraftOut:
    async with audited_encounter(ctx, request, who, Action.NOTE_DRAFT, encounter_id) as work:
        draft = await notes.save_draft(
            work.session, encounter_id, who.name, body.base_version, dict(body.sections)
        )
        work.target = f"base=v{body.base_version}"
        return draft_out(draft)


@router.delete(
    "",
    status_code=204,
    summary="Throw your unsaved draft away",
    responses=error_responses(401, 403, 404),
)
async def delete_draft(
    encounter_id: EncounterIdPath, request: Request, ctx: Ctx, who: Caller
) -> Response:
    async with audited_encounter(ctx, request, who, Action.NOTE_DRAFT, encounter_id) as work:
        dropped = await repo.drop_drafts(work.session, encounter_id, who.name)
        work.status = 204
        work.target = f"deleted={dropped}"
    return Response(status_code=204)
