"""The clinician's unsaved edit, kept on the server as they type.

The console saves the form here a moment after each change, so an ended session, a closed
tab or a crashed browser loses nothing, and no note text is ever put in browser storage.
A draft is its author's alone; saving the note or signing it removes it.
"""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Response

from services.notes.api.route_helpers import Call, answers, sections_out
from services.notes.api.routers.encounters import EncounterIdPath
from services.notes.api.schemas import DraftIn, DraftOut
from services.notes.auth import Action
from services.notes.db import repo
from services.notes.db.models import NoteDraft
from services.notes.domain import notes

router = APIRouter(prefix="/v1/encounters/{encounter_id}/note/draft", tags=["notes"])

NO_DRAFT = "you have no unsaved draft of this note"


def draft_out(draft: NoteDraft) -> DraftOut:
    return DraftOut(
        encounter_id=draft.encounter_id,
        author=draft.author,
        base_version=draft.base_version,
        sections=sections_out(draft.sections),
        updated_at=draft.updated_at,
    )


@router.get("", summary="Your unsaved draft of the note, if any", **answers(DraftOut, 404))
async def get_draft(encounter_id: EncounterIdPath, call: Call) -> DraftOut:
    async with call.on_encounter(Action.NOTE_DRAFT, encounter_id) as work:
        draft = await repo.get_draft(work.session, encounter_id, call.who.name)
        if draft is None:
            raise HTTPException(404, NO_DRAFT)
        work.target = "read"
        return draft_out(draft)


@router.put(
    "",
    summary="Keep your unsaved edit (replaces your previous draft)",
    **answers(DraftOut, 404, 409, 413),
)
async def put_draft(encounter_id: EncounterIdPath, body: DraftIn, call: Call) -> DraftOut:
    async with call.on_encounter(Action.NOTE_DRAFT, encounter_id) as work:
        draft = await notes.save_draft(
            work.session, encounter_id, call.who.name, body.base_version, dict(body.sections)
        )
        work.target = f"base=v{body.base_version}"
        return draft_out(draft)


@router.delete("", summary="Throw your unsaved draft away", **answers(None, 404, status_code=204))
async def delete_draft(encounter_id: EncounterIdPath, call: Call) -> Response:
    async with call.on_encounter(Action.NOTE_DRAFT, encounter_id) as work:
        dropped = await repo.drop_drafts(work.session, encounter_id, call.who.name)
        work.status = 204
        work.target = f"deleted={dropped}"
    return Response(status_code=204)
