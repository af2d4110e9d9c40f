"""The front desk's room schedule: who each room sees next, and claiming unassigned visits.

The patient's identity stays in the database: the room's capture agent never types or
carries it; the notes service attaches the room's oldest unused assignment to the room's
next encounter when it starts. Audit rows name the room, never the patient.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query, Response
from fastapi.exceptions import RequestValidationError
from sqlalchemy import select

from services.notes.api.route_helpers import Call, answers
from services.notes.api.schemas import (
    ENCOUNTER_ID_PATTERN,
    ROOM_PATTERN,
    AssignmentIn,
    AssignmentList,
    AssignmentOut,
    ClaimIn,
    EncounterSummary,
)
from services.notes.auth import Action, Role
from services.notes.db import repo
from services.notes.db.models import RoomAssignment, utcnow

router = APIRouter(prefix="/v1", tags=["rooms and patients"])
NO_ENCOUNTER = "no such encounter"
RoomPath = Annotated[str, Path(pattern=ROOM_PATTERN)]


@router.post(
    "/rooms/{room}/assignments",
    summary="Assign the next patient (and clinician) to a room (staff, admin)",
    **answers(AssignmentOut, status_code=201),
)
async def assign(room: RoomPath, body: AssignmentIn, call: Call) -> AssignmentOut:
    """Queued per room, oldest first: the room's next visit gets the oldest unused one."""
    async with call.allowed(Action.ROOM_ASSIGN) as work:
        row = RoomAssignment(
            room=room,
            patient_name=body.patient_name,
            patient_mrn=body.mrn,
            patient_dob=body.dob,
            visit_reason=body.visit_reason or None,
            clinician=body.clinician,
            created_by=call.who.name,
            created_at=utcnow(),
        )
        work.session.add(row)
        await work.session.flush()
        work.target = f"room={room}"
        work.status = 201
        return AssignmentOut.model_validate(row)


@router.get(
    "/rooms/{room}/assignments",
    summary="A room's schedule: pending assignments (and recent used ones)",
    **answers(AssignmentList),
)
async def schedule(
    room: RoomPath,
    call: Call,
    include_used: Annotated[bool, Query(description="Also the ones already used.")] = False,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> AssignmentList:
    async with call.allowed(Action.ROOM_SCHEDULE) as work:
        stmt = select(RoomAssignment).where(RoomAssignment.room == room)
        if not include_used:
            stmt = stmt.where(RoomAssignment.encounter_id.is_(None))
        rows = (await work.session.scalars(stmt.order_by(RoomAssignment.id).limit(limit))).all()
        work.target = f"room={room} count={len(rows)}"
        return AssignmentList(items=[AssignmentOut.model_validate(r) for r in rows])


@router.delete(
    "/rooms/{room}/assignments/{assignment_id}",
    summary="Cancel a pending assignment (staff, admin)",
    **answers(None, 404, 409, status_code=204),
)
async def cancel(
    room: RoomPath, assignment_id: Annotated[int, Path(ge=1, le=2**62)], call: Call
) -> Response:
    async with call.allowed(Action.ROOM_ASSIGN) as work:
        row = await work.session.get(RoomAssignment, assignment_id, with_for_update=True)
        if row is None or row.room != room:
            raise HTTPException(404, "no such assignment")
        if row.encounter_id is not None:
            raise HTTPException(409, "this assignment is already part of a visit")
        await work.session.delete(row)
        work.target = f"room={room} cancelled={assignment_id}"
        work.status = 204
    return Response(status_code=204)


@router.post(
    "/encounters/{encounter_id}/claim",
    summary="Take a visit that was recorded without a clinician (clinician; admins assign)",
    **answers(EncounterSummary, 404, 409),
)
async def claim(
    encounter_id: Annotated[str, Path(pattern=ENCOUNTER_ID_PATTERN)], body: ClaimIn, call: Call
) -> EncounterSummary:
    """Idempotent for the same clinician; a visit someone else already has is a 404 for a
    clinician (it is not theirs to see) and a 409 for an admin."""
    who = call.who
    async with call.allowed(Action.ENCOUNTER_CLAIM, encounter_id) as work:
        if who.role is Role.CLINICIAN:
            target = who.clinician_id
        else:
            target = body.clinician
            if not target:
                raise RequestValidationError(
                    [{"loc": ("body", "clinician"), "msg": "name the clinician to assign the "
                      "visit to", "type": "missing"}]
                )  # fmt: skip
        enc = await repo.get_encounter(work.session, encounter_id)
        if enc is None:
            raise HTTPException(404, NO_ENCOUNTER)
        if enc.clinician not in (None, target):
            if who.role is Role.CLINICIAN:
                raise HTTPException(404, NO_ENCOUNTER)
            raise HTTPException(409, "the visit already has a clinician")
        enc.clinician = target
        enc.updated_at = utcnow()
        work.target = f"clinician={target}"
        return EncounterSummary.model_validate(enc)
