"""The patient's after-visit summary of a signed note: written on request through the
notes service's LLM Gateway client, checked against the signed note, stored, audited.

A summary whose check found unsupported statements is stored and served with its flags
(``check: flagged``): the clinician sees what to correct; nothing is hidden.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import tzinfo

from fastapi import APIRouter, HTTPException, Response
from fastapi.responses import PlainTextResponse
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.notes.api.route_helpers import Call, answers, offered
from services.notes.api.routers.encounters import EncounterIdPath, wants_text
from services.notes.api.schemas import (
    SummaryOut,
    SummaryRequest,
    SummarySections,
    SummaryStatementOut,
)
from services.notes.auth import Action
from services.notes.db import repo
from services.notes.db.models import AfterVisitSummary, Encounter
from services.notes.summary import SummaryFormatError, write_summary
from services.notes.transcript import patient_line
from shared.gateway_types import GatewayError, GatewayRejected
from shared.logging import get_logger

log = get_logger(__name__)

router = APIRouter(prefix="/v1/encounters/{encounter_id}/summary", tags=["summary"])

NOT_SIGNED = "the note is not signed yet; a summary is written from the signed note only"
NO_SUMMARY = "no after-visit summary yet"
NO_GATEWAY = "after-visit summaries need the LLM Gateway, which this server does not use"
GATEWAY_DOWN = "the LLM Gateway is unavailable; try again shortly"
UNREADABLE = "the model's summary could not be read; try again or choose another model"


def summary_out(row: AfterVisitSummary, current_version: int) -> SummaryOut:
    statements: list[SummaryStatementOut] = []
    for item in row.evidence if isinstance(row.evidence, list) else []:
        try:
            statements.append(SummaryStatementOut.model_validate(item))
        except ValueError:
            log.warning("summary_evidence_row_invalid", encounter_id=row.encounter_id)
    return SummaryOut(
        encounter_id=row.encounter_id,
        note_version=row.note_version,
        outdated=current_version != row.note_version,
        sections=SummarySections(**{k: row.sections.get(k) or [] for k in SUMMARY_KEYS}),
        text=row.text,
        statements=statements,
        open_high_flags=row.open_high_flags,
        check="flagged" if row.open_high_flags else "passed",
        model=row.model,
        created_by=row.created_by,
        created_at=row.created_at,
    )


SUMMARY_KEYS = ("reason", "findings", "next_steps")


def summary_file_text(row: AfterVisitSummary, enc: Encounter, tz: tzinfo | None) -> str:
    """The printable text: whose visit, from which signed note, and a failed check on top."""
    head = ["After-visit summary"]
    who = patient_line(enc)
    if who:
        head.append(who)
    visit = f"Visit: {enc.started_at.astimezone(tz):%Y-%m-%d}"
    if enc.clinician:
        visit += f" · Clinician: {enc.clinician}"
    head.append(visit)
    if row.open_high_flags:
        head.append(
            f"CHECK FAILED: {row.open_high_flags} statement(s) are not supported by the signed "
            "note. Review before giving this to the patient."
        )
    return "\n".join(head) + "\n\n" + row.text


async def latest(session: AsyncSession, encounter_id: str) -> AfterVisitSummary | None:
    stmt = (
        select(AfterVisitSummary)
        .where(AfterVisitSummary.encounter_id == encounter_id)
        .order_by(AfterVisitSummary.id.desc())
        .limit(1)
    )
    return (await session.scalars(stmt)).first()


@router.post(
    "",
    summary="Write the patient's after-visit summary from the signed note",
    **answers(SummaryOut, 404, 409, 502, status_code=201),
)
async def write(
    encounter_id: EncounterIdPath, call: Call, body: SummaryRequest | None = None
) -> SummaryOut:
    """Only from a signed note (else 409). Plain language; every statement is checked
    against the signed note and its addenda, and unsupported ones are flagged (stored and
    shown, never dropped). Writing again adds a new summary; the newest is served."""
    ctx = call.ctx
    async with call.on_encounter(Action.SUMMARY_WRITE, encounter_id) as work:
        model = body.model if body is not None else None
        offered(ctx, model)
        note = await repo.current_note(work.session, encounter_id)
        if note is None or note.signed_at is None:
            raise HTTPException(409, NOT_SIGNED)
        if ctx.gateway is None:
            raise HTTPException(503, NO_GATEWAY)
        enc = await repo.get_encounter(work.session, encounter_id)
        assert enc is not None
        chosen = model or enc.llm_model or ctx.settings.default_llm_model
        sections = note.sections if isinstance(note.sections, dict) else {}
        addenda = [str(a.get("text", "")) for a in note.addenda or [] if isinstance(a, dict)]
        try:
            async with ctx.summary_slots:
                written = await write_summary(ctx.gateway, chosen, sections, addenda)
        except SummaryFormatError:
            raise HTTPException(502, UNREADABLE) from None
        except GatewayRejected as err:
            log.warning("summary_gateway_rejected", status=err.status)
            raise HTTPException(502, "the LLM Gateway refused the request") from None
        except (GatewayError, TimeoutError):
            raise HTTPException(503, GATEWAY_DOWN, headers={"Retry-After": "5"}) from None
        row = AfterVisitSummary(
            encounter_id=encounter_id,
            note_version=note.version,
            model=chosen,
            created_by=call.who.name,
            **asdict(written),
        )
        work.session.add(row)
        await work.session.flush()
        work.status = 201
        work.target = f"from v{note.version}, {written.open_high_flags} high flags"
    ctx.metrics.summaries.labels("flagged" if written.open_high_flags else "passed").inc()
    return summary_out(row, note.version)


@router.get(
    "",
    summary="The newest after-visit summary (JSON, or text/plain to print or download)",
    **answers(SummaryOut, 404, text=True),
)
async def read(encounter_id: EncounterIdPath, call: Call) -> Response | SummaryOut:
    as_text = wants_text(call.request)
    async with call.on_encounter(Action.SUMMARY_READ, encounter_id) as work:
        row = await latest(work.session, encounter_id)
        if row is None:
            raise HTTPException(404, NO_SUMMARY)
        note = await repo.current_note(work.session, encounter_id)
        enc = await repo.get_encounter(work.session, encounter_id)
        assert enc is not None
        work.target = f"from v{row.note_version}" + (" text" if as_text else "")
    if as_text:
        return PlainTextResponse(summary_file_text(row, enc, call.ctx.settings.tzinfo()))
    return summary_out(row, note.version if note is not None else row.note_version)
