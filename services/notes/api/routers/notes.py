"""The note: current version, history, clinician edit (ETag/If-Match), regenerate, sign,
and addenda to a signed note (which is locked: never edited in place).

The rules are ``services.notes.domain``'s; a route checks access, calls it and answers.
"""

from __future__ import annotations

import re
from typing import Annotated, TypeVar

from fastapi import APIRouter, Header, HTTPException, Response
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel

from services.notes.api.deps import ApiContext
from services.notes.api.errors import error_responses, note_etag
from services.notes.api.route_helpers import Call, answers, offered, same_named, sections_out
from services.notes.api.routers.encounters import EncounterIdPath, wants_text
from services.notes.api.schemas import (
    AddendumIn,
    AddendumOut,
    NoteOut,
    NoteUpdate,
    NoteVersions,
    RegenerateAccepted,
    RegenerateRequest,
    SaveAndSignIn,
    SignRefused,
    SignRequest,
    StatementOut,
)
from services.notes.auth import Action
from services.notes.db import repo
from services.notes.db.models import Note
from services.notes.domain import notes, signing
from services.notes.domain.notes import NO_NOTE, Expected
from services.notes.exporter import export_encounter, note_file_text
from services.notes.status import EncounterStatus
from shared.logging import get_logger

log = get_logger(__name__)

_Row = TypeVar("_Row", bound=BaseModel)

router = APIRouter(prefix="/v1/encounters/{encounter_id}/note", tags=["notes"])

IF_MATCH_REQUIRED = "send If-Match with the ETag of the version you edited"
_ETAG = re.compile(r'"v(0|[1-9][0-9]*)"')

IfMatch = Annotated[
    str | None,
    Header(
        max_length=200,
        description='The ETag of the version you are changing, e.g. "v3".',
    ),
]


def etag(note: Note) -> str:
    return note_etag(note.version)


def expected(if_match: str | None) -> Expected | None:
    """The versions If-Match names (RFC 9110 strong comparison: a tag we did not issue
    matches nothing); ``*`` matches any current version."""
    if if_match is None:
        return None
    tags = [tag.strip() for tag in if_match.split(",")]
    found = [m for m in (_ETAG.fullmatch(tag) for tag in tags) if m is not None]
    return Expected(frozenset(int(m.group(1)) for m in found), any_version="*" in tags)


def required(if_match: str | None) -> Expected:
    """An edit must name the version it was made on (428 otherwise)."""
    wanted = expected(if_match)
    if wanted is None:
        raise HTTPException(428, IF_MATCH_REQUIRED)
    return wanted


async def refresh_files(ctx: ApiContext, encounter_id: str) -> None:
    """Rewrite the encounter's export files so they show the edited or signed note.

    Best effort, after the commit: the database is the record, the files are a copy.
    """
    try:
        await export_encounter(
            ctx.db,
            ctx.settings.export_dir,
            encounter_id,
            ctx.settings.tzinfo(),
            ctx.settings.speaker_roles,
        )
    except Exception as err:  # noqa: BLE001 - never fail the request for the copy
        log.warning("export_failed", encounter_id=encounter_id, error=type(err).__name__)


async def changed(ctx: ApiContext, response: Response, note: Note) -> NoteOut:
    """The answer to a change, after its commit: the files follow, the ETag is the new one."""
    await refresh_files(ctx, note.encounter_id)
    response.headers["ETag"] = etag(note)
    return note_out(note)


def _rows(note: Note, rows: object, model: type[_Row], event: str) -> list[_Row]:
    """A note's stored JSON rows as ``model``; a row that does not fit the shape is left
    out (logged as ``event``), not a 500."""
    out: list[_Row] = []
    for item in rows if isinstance(rows, list) else []:
        try:
            out.append(model.model_validate(item))
        except ValueError:
            log.warning(event, encounter_id=note.encounter_id)
    return out


def statements_out(note: Note) -> list[StatementOut]:
    """The stored evidence."""
    return _rows(note, note.evidence, StatementOut, "evidence_row_invalid")


# The note's columns that NoteOut shows as they are, under their own names.
_AS_STORED = (
    "encounter_id", "version", "kind", "status", "text", "model", "author", "problem",
    "missing_seqs", "created_at", "signed_by", "signed_at",
)  # fmt: skip


def note_out(note: Note) -> NoteOut:
    statements = statements_out(note)
    return NoteOut(
        **same_named(note, _AS_STORED),
        sections=sections_out(note.sections),
        etag=etag(note),
        statements=statements,
        open_high_flags=sum(f.severity == "high" for st in statements for f in st.flags),
        addenda=addenda_out(note),
    )


def addenda_out(note: Note) -> list[AddendumOut]:
    return _rows(note, note.addenda, AddendumOut, "addendum_row_invalid")


@router.get(
    "",
    summary="The current note version (JSON, or text/plain with its header)",
    **answers(
        NoteOut,
        404,
        text="JSON, or with `Accept: text/plain` the note file: a header (DRAFT — NOT SIGNED "
        "or signed by/at, patient, clinician, visit date) above the note.",
    ),
)
async def get_note(
    encounter_id: EncounterIdPath, response: Response, call: Call
) -> Response | NoteOut:
    as_text = wants_text(call.request)
    async with call.on_encounter(Action.NOTE_READ, encounter_id) as work:
        note = await repo.current_note(work.session, encounter_id)
        if note is None:
            raise HTTPException(404, NO_NOTE)
        enc = await repo.get_encounter(work.session, encounter_id)
        work.target = f"v{note.version}" + (" text" if as_text else "")
    if as_text:
        text = note_file_text(note, note.missing_seqs or [], enc, call.ctx.settings.tzinfo())
        return PlainTextResponse(text, headers={"ETag": etag(note)})
    response.headers["ETag"] = etag(note)
    return note_out(note)


@router.get(
    "/versions", summary="Every version of the note, oldest first", **answers(NoteVersions, 404)
)
async def get_versions(encounter_id: EncounterIdPath, call: Call) -> NoteVersions:
    async with call.on_encounter(Action.NOTE_HISTORY, encounter_id) as work:
        history = await repo.note_history(work.session, encounter_id)
        work.target = f"count={len(history)}"
    return NoteVersions(encounter_id=encounter_id, versions=[note_out(n) for n in history])


@router.put(
    "",
    summary="Edit the note (a new version); a signed note is locked (409)",
    **answers(NoteOut, 404, 409, 412, 413, 428),
)
async def put_note(
    encounter_id: EncounterIdPath,
    body: NoteUpdate,
    response: Response,
    call: Call,
    if_match: IfMatch = None,
) -> NoteOut:
    """Optimistic concurrency: send the ETag of the version you edited in ``If-Match``.

    Without it: 428. When someone changed the note in between: 412 (get it again, merge,
    retry). A signed note is locked: 409 (``POST …/note/addendum`` adds dated text to it).
    """
    async with call.on_encounter(Action.NOTE_UPDATE, encounter_id) as work:
        note = await notes.edit_note(
            work.session, encounter_id, call.who.name, dict(body.sections), required(if_match)
        )
        work.target = f"v{note.version}"
    return await changed(call.ctx, response, note)


@router.post(
    "/sign",
    summary="Sign the current note version (locks it)",
    **answers(NoteOut, 404, 409, 412),
)
async def sign_note(
    encounter_id: EncounterIdPath,
    response: Response,
    call: Call,
    if_match: IfMatch = None,
    body: SignRequest | None = None,
) -> NoteOut:
    """Signs the version named by ``If-Match`` (recommended) or else the current one.

    A version with open high-severity flags (``open_high_flags > 0``) is signed only with
    ``{"acknowledge_flags": true}``; otherwise 409. The acknowledgement is audited.
    """
    acknowledged = body is not None and body.acknowledge_flags
    async with call.on_encounter(Action.NOTE_SIGN, encounter_id) as work:
        signed = await signing.sign_note(
            work.session, encounter_id, call.who.name, expected(if_match), acknowledged
        )
        note = signed.note
        work.target = f"v{note.version}"
        if signed.high_flags:
            work.target = f"v{note.version} acknowledged {signed.high_flags} high flags"
    return await changed(call.ctx, response, note)


@router.post(
    "/save-and-sign",
    response_model=NoteOut,
    summary="Save the clinician's final text and sign it, in one step (locks it)",
    responses={
        **error_responses(401, 403, 404, 409, 412, 413, 428),
        409: {
            "model": SignRefused,
            "description": "Signed already, no note, or high flags not acknowledged (listed "
            "in `flags`; nothing was saved).",
        },
    },
)
async def save_and_sign(
    encounter_id: EncounterIdPath,
    body: SaveAndSignIn,
    response: Response,
    call: Call,
    if_match: IfMatch = None,
) -> NoteOut:
    """One transaction: the text (a new version if it differs from the one named by
    ``If-Match``), the attestation (``attest: true``) and the signature. Every open
    high-severity flag of the text being signed must be in ``acknowledged``; otherwise
    nothing is saved and the 409 lists them with what they rest on. Without If-Match: 428;
    another version in between: 412; a signed note: 409 (add an addendum)."""
    async with call.on_encounter(Action.NOTE_SIGN, encounter_id) as work:
        signed = await signing.save_and_sign(
            work.session,
            encounter_id,
            call.who.name,
            dict(body.sections),
            required(if_match),
            [(a.statement, a.term) for a in body.acknowledged],
        )
        note = signed.note
        work.target = f"v{note.version} {'saved and ' if signed.edited else ''}signed, attested"
        if signed.high_flags:
            work.target += f", acknowledged {signed.high_flags} high flags"
    return await changed(call.ctx, response, note)


@router.post(
    "/regenerate",
    summary="Write the note again (optionally with another model)",
    **answers(RegenerateAccepted, 404, 409, status_code=202),
)
async def regenerate(
    encounter_id: EncounterIdPath, call: Call, body: RegenerateRequest | None = None
) -> RegenerateAccepted:
    """Accepted (202): the notes service's scheduler writes the next version shortly.

    Follow ``GET /v1/encounters/{id}`` (status ``note_pending`` → ``ready`` or
    ``needs_review``) or the live events. Every earlier version (a clinician's edit too)
    stays in the history. Signed notes are not regenerated: add an addendum.
    """
    ctx = call.ctx
    model = body.model if body is not None else None
    async with call.on_encounter(Action.NOTE_REGENERATE, encounter_id) as work:
        offered(ctx, model)
        chosen = await notes.request_note(
            work.session, encounter_id, model, ctx.settings.default_llm_model
        )
        work.status = 202
        work.target = chosen
    return RegenerateAccepted(
        encounter_id=encounter_id,
        status=EncounterStatus.NOTE_PENDING,
        model=chosen,
        detail="the note will be written again; poll the encounter or follow its events",
    )


@router.post(
    "/addendum",
    summary="Add dated text to the signed note (a new version; the signed text stays)",
    **answers(NoteOut, 404, 409, 412, status_code=201),
)
async def add_addendum(
    encounter_id: EncounterIdPath,
    body: AddendumIn,
    response: Response,
    call: Call,
    if_match: IfMatch = None,
) -> NoteOut:
    """Only on a signed note (else 409: edit it instead). The new version keeps the
    signature it amends; the addendum is dated and names its author."""
    async with call.on_encounter(Action.NOTE_ADDENDUM, encounter_id) as work:
        note = await notes.add_addendum(
            work.session, encounter_id, call.who.name, body.text, expected(if_match)
        )
        work.status = 201
        work.target = f"v{note.version}"
    return await changed(call.ctx, response, note)
