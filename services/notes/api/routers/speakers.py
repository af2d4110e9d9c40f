"""Who said what: the clinician swaps the two speakers or corrects one turn's role.

Roles are stored on the encounter (per speaker label) and on the turn (one correction);
the transcript, the exports and the next note written read them from there. Audit rows
name the turn and the role, never the words.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.notes import transcript
from services.notes.api.route_helpers import Call, answers
from services.notes.api.routers.encounters import EncounterIdPath
from services.notes.api.schemas import SpeakerRolesOut, TurnRoleIn
from services.notes.auth import Action
from services.notes.db import repo
from services.notes.db.models import Encounter, Turn, utcnow
from services.notes.speakers import CLINICIAN, PATIENT, resolve_roles
from services.notes.status import EncounterStatus

router = APIRouter(prefix="/v1/encounters/{encounter_id}", tags=["speakers"])

SIGNED_LOCKED = "the note is signed; the transcript it was signed with stays as it is"
SWAPPED = {CLINICIAN: PATIENT, PATIENT: CLINICIAN}


async def _unsigned(session: AsyncSession, encounter_id: str) -> Encounter:
    enc = await repo.get_encounter(session, encounter_id)
    assert enc is not None  # check_encounter found it
    if enc.status == EncounterStatus.SIGNED:
        raise HTTPException(409, SIGNED_LOCKED)
    return enc


def _out(enc: Encounter, turns: list[Turn]) -> SpeakerRolesOut:
    return SpeakerRolesOut(
        encounter_id=enc.id,
        speaker_roles=dict(enc.speaker_roles or {}),
        turn_roles={t.seq: t.role for t in turns if t.role},
    )


@router.post(
    "/speakers/swap",
    summary="Swap clinician and patient (every turn of both speakers)",
    **answers(SpeakerRolesOut, 404, 409),
)
async def swap_speakers(encounter_id: EncounterIdPath, call: Call) -> SpeakerRolesOut:
    """The roles as shown (stored, configured or guessed) with clinician and patient
    exchanged; stored, so the transcript, exports and a regenerated note follow them."""
    async with call.on_encounter(Action.SPEAKERS_EDIT, encounter_id) as work:
        enc = await _unsigned(work.session, encounter_id)
        turns = await repo.list_turns(work.session, encounter_id)
        roles = resolve_roles(
            transcript.spoken(turns), enc.speaker_roles, call.ctx.settings.speaker_roles
        )
        if not any(role in SWAPPED for role in roles.values()):
            raise HTTPException(409, "no speaker of this visit has a role to swap")
        swapped = {label: SWAPPED.get(role, role) for label, role in roles.items()}
        await repo.set_speaker_roles(work.session, encounter_id, swapped)
        enc.speaker_roles = swapped
        work.target = "swap"
        return _out(enc, turns)


@router.put(
    "/turns/{seq}/role",
    summary="Correct who said one turn (null: back to its speaker's role)",
    **answers(SpeakerRolesOut, 404, 409),
)
async def set_turn_role(
    encounter_id: EncounterIdPath,
    seq: Annotated[int, Path(ge=0, le=1_000_000)],
    body: TurnRoleIn,
    call: Call,
) -> SpeakerRolesOut:
    async with call.on_encounter(Action.SPEAKERS_EDIT, encounter_id) as work:
        enc = await _unsigned(work.session, encounter_id)
        turn = await work.session.scalar(
            select(Turn).where(Turn.encounter_id == encounter_id, Turn.seq == seq)
        )
        if turn is None:
            raise HTTPException(404, "no such turn")
        turn.role = body.role
        enc.updated_at = utcnow()
        work.target = f"turn={seq} role={body.role or 'speaker'}"
        return _out(enc, await repo.list_turns(work.session, encounter_id))
