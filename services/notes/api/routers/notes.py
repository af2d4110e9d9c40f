"""The note: current version, history, clinician edit (ETag/If-Match), regenerate, sign,
and addenda to a signed note (which is locked: never edited in place)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, HTTPException, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import PlainTextResponse

from services.notes.api import queries
from services.notes.api.deps import ApiContext, Caller, Ctx, audited, check_encounter
from services.notes.api.errors import DetailedHTTPException, error_responses
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
    SectionsOut,
    SignRefused,
    SignRequest,
    StatementOut,
)
from services.notes.auth import Action
from services.notes.db import repo
from services.notes.db.models import Note
from services.notes.evidence import note_evidence
from services.notes.exporter import export_encounter, note_file_text
from services.notes.soap_format import render
from shared.evidence import open_high_flags
from shared.logging import get_logger

log = get_logger(__name__)

router = APIRouter(prefix="/v1/encounters/{encounter_id}/note", tags=["notes"])

NO_NOTE = "this encounter has no note yet"
CHANGED = "the note changed since you read it; get it again and reapply your edit"
UNACKNOWLEDGED = (
    "the note has unsupported high-severity statements; review them or sign with acknowledge_flags"
)
LOCKED = "the note is signed and locked; add an addendum instead"
# Encounters whose note may be written again on request.
REGENERATABLE = frozenset({"needs_review", "ready", "failed"})

IfMatch = Annotated[
    str | None,
    Header(
        max_length=200,
        description='The ETag of the version you are changing, e.g. "v3".',
    ),
]


def etag(note: Note) -> str:
    return f'"v{note.version}"'


def matches(if_match: str, note: Note) -> bool:
    """RFC 9110 strong comparison; ``*`` matches any current version."""
    current = etag(note)
    return any(tag.strip() in ("*", current) for tag in if_match.split(","))


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


def statements_out(note: Note) -> list[StatementOut]:
    """The stored evidence; a row that does not fit the shape is left out, not a 500."""
    out: list[StatementOut] = []
    for item in note.evidence if isinstance(note.evidence, list) else []:
        try:
            out.append(StatementOut.model_validate(item))
        except ValueError:
            log.warning("evidence_row_invalid", encounter_id=note.encounter_id)
    return out


def note_out(note: Note) -> NoteOut:
    sections = note.sections if isinstance(note.sections, dict) else {}
    statements = statements_out(note)
    return NoteOut(
        encounter_id=note.encounter_id,
        version=note.version,
        kind=note.kind,
        status=note.status,
        text=note.text,
        sections=SectionsOut(
            **{
                k: [str(item) for item in sections.get(k) or []]
                for k in ("subjective", "objective", "assessment", "plan")
            }
        ),
        model=note.model,
        author=note.author,
        problem=note.problem,
        missing_seqs=note.missing_seqs,
        created_at=note.created_at,
        signed_by=note.signed_by,
        signed_at=note.signed_at,
        etag=etag(note),
        statements=statements,
        open_high_flags=sum(f.severity == "high" for st in statements for f in st.flags),
        addenda=addenda_out(note),
    )


def addenda_out(note: Note) -> list[AddendumOut]:
    out: list[AddendumOut] = []
    for item in note.addenda if isinstance(note.addenda, list) else []:
        try:
            out.append(AddendumOut.model_validate(item))
        except ValueError:
            log.warning("addendum_row_invalid", encounter_id=note.encounter_id)
    return out


@router.get(
    "",
    response_model=NoteOut,
    summary="The current note version (JSON, or text/plain with its header)",
    responses={
        200: {
            "content": {"text/plain": {"schema": {"type": "string"}}},
            "description": "JSON, or with `Accept: text/plain` the note file: a header (DRAFT "
            "— NOT SIGNED or signed by/at, patient, clinician, visit date) above the note.",
        },
        **error_responses(401, 403, 404),
    },
)
async def get_note(
    encounter_id: EncounterIdPath, request: Request, response: Response, ctx: Ctx, who: Caller
) -> Response | NoteOut:
    as_text = wants_text(request)
    async with audited(ctx, request, who, Action.NOTE_READ, encounter_id) as work:
        await check_encounter(work.session, who, Action.NOTE_READ, encounter_id)
        note = await repo.current_note(work.session, encounter_id)
        if note is None:
            raise HTTPException(404, NO_NOTE)
        enc = await repo.get_encounter(work.session, encounter_id)
        work.target = f"v{note.version}" + (" text" if as_text else "")
    if as_text:
        text = note_file_text(note, note.missing_seqs or [], enc, ctx.settings.tzinfo())
        return PlainTextResponse(text, headers={"ETag": etag(note)})
    response.headers["ETag"] = etag(note)
    return note_out(note)


@router.get(
    "/versions",
    response_model=NoteVersions,
    summary="Every version of the note, oldest first",
    responses=error_responses(401, 403, 404),
)
async def get_versions(
    encounter_id: EncounterIdPath, request: Request, ctx: Ctx, who: Caller
) -> NoteVersions:
    async with audited(ctx, request, who, Action.NOTE_HISTORY, encounter_id) as work:
        await check_encounter(work.session, who, Action.NOTE_HISTORY, encounter_id)
        notes = await repo.note_history(work.session, encounter_id)
        work.target = f"count={len(notes)}"
    return NoteVersions(encounter_id=encounter_id, versions=[note_out(n) for n in notes])


@router.put(
    "",
    response_model=NoteOut,
    summary="Edit the note (a new version); a signed note is locked (409)",
    responses=error_responses(401, 403, 404, 409, 412, 413, 428),
)
async def put_note(
    encounter_id: EncounterIdPath,
    body: NoteUpdate,
    request: Request,
    response: Response,
    ctx: Ctx,
    who: Caller,
    if_match: IfMatch = None,
) -> NoteOut:
    """Optimistic concurrency: send the ETag of the version you edited in ``If-Match``.

    Without it: 428. When someone changed the note in between: 412 (get it again, merge,
    retry). A signed note is locked: 409 (``POST …/note/addendum`` adds dated text to it).
    """
    async with audited(ctx, request, who, Action.NOTE_UPDATE, encounter_id) as work:
        await check_encounter(work.session, who, Action.NOTE_UPDATE, encounter_id)
        if if_match is None:
            raise HTTPException(428, "send If-Match with the ETag of the version you edited")
        base = await repo.current_note(work.session, encounter_id)
        if base is None:
            raise HTTPException(409, NO_NOTE)
        if base.signed_at is not None:
            raise HTTPException(409, LOCKED)
        if not matches(if_match, base):
            raise HTTPException(412, CHANGED, headers={"ETag": etag(base)})
        sections = {k: [" ".join(item.split()) for item in v] for k, v in body.sections}
        if not any(sections.values()):
            raise RequestValidationError(
                [{"loc": ("body", "sections"), "msg": "the note is empty", "type": "value_error"}]
            )
        # The clinician's text is checked like the model's (links computed).
        turns = await repo.list_turns(work.session, encounter_id)
        try:
            note = await repo.add_note_version(
                work.session,
                encounter_id,
                # Version base+1 exactly: a concurrent edit of the same base conflicts.
                version=base.version + 1,
                kind="edited",
                status="draft",
                text=render(sections),
                sections=sections,
                model=None,
                author=who.name,
                missing=base.missing_seqs,
                evidence=await note_evidence(sections, turns),
            )
        except repo.VersionConflict:
            raise HTTPException(412, CHANGED) from None
        await repo.drop_drafts(work.session, encounter_id, who.name)  # saved: no longer a draft
        enc = await repo.get_encounter(work.session, encounter_id)
        if enc is not None and enc.status == "needs_review":
            # The clinician has read and corrected it.
            await queries.set_encounter_status(work.session, encounter_id, "ready")
        work.target = f"v{note.version}"
    await refresh_files(ctx, encounter_id)
    response.headers["ETag"] = etag(note)
    return note_out(note)


@router.post(
    "/sign",
    response_model=NoteOut,
    summary="Sign the current note version (locks it)",
    responses=error_responses(401, 403, 404, 409, 412),
)
async def sign_note(
    encounter_id: EncounterIdPath,
    request: Request,
    response: Response,
    ctx: Ctx,
    who: Caller,
    if_match: IfMatch = None,
    body: SignRequest | None = None,
) -> NoteOut:
    """Signs the version named by ``If-Match`` (recommended) or else the current one.

    A version with open high-severity flags (``open_high_flags > 0``) is signed only with
    ``{"acknowledge_flags": true}``; otherwise 409. The acknowledgement is audited.
    """
    acknowledged = body is not None and body.acknowledge_flags
    async with audited(ctx, request, who, Action.NOTE_SIGN, encounter_id) as work:
        await check_encounter(work.session, who, Action.NOTE_SIGN, encounter_id)
        note = await repo.current_note(work.session, encounter_id)
        if note is None:
            raise HTTPException(409, NO_NOTE)
        if if_match is not None and not matches(if_match, note):
            raise HTTPException(412, CHANGED, headers={"ETag": etag(note)})
        if note.signed_at is not None:
            raise HTTPException(409, "already signed; add an addendum instead")
        high = open_high_flags(note.evidence if isinstance(note.evidence, list) else None)
        if high and not acknowledged:
            raise HTTPException(409, UNACKNOWLEDGED)
        note = await repo.sign_note(work.session, encounter_id, note.version, who.name)
        await repo.drop_drafts(work.session, encounter_id)  # the note is locked now
        work.target = f"v{note.version}"
        if high:
            work.target = f"v{note.version} acknowledged {high} high flags"
    await refresh_files(ctx, encounter_id)
    response.headers["ETag"] = etag(note)
    return note_out(note)


def _norm(text: str) -> str:
    return " ".join(text.split()).casefold()


def unacknowledged(note: Note, acknowledged: set[tuple[str, str]]) -> list[StatementOut]:
    """The statements of ``note`` with their high flags that are not acknowledged."""
    out: list[StatementOut] = []
    for st in statements_out(note):
        high = [
            f
            for f in st.flags
            if f.severity == "high" and (_norm(st.text), _norm(f.term)) not in acknowledged
        ]
        if high:
            out.append(st.model_copy(update={"flags": high}))
    return out


def same_sections(note: Note, sections: dict[str, list[str]]) -> bool:
    stored = note.sections if isinstance(note.sections, dict) else {}
    return all(
        [" ".join(str(i).split()) for i in stored.get(k) or []] == sections.get(k, [])
        for k in ("subjective", "objective", "assessment", "plan")
    )


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
    request: Request,
    response: Response,
    ctx: Ctx,
    who: Caller,
    if_match: IfMatch = None,
) -> NoteOut:
    """One transaction: the text (a new version if it differs from the one named by
    ``If-Match``), the attestation (``attest: true``) and the signature. Every open
    high-severity flag of the text being signed must be in ``acknowledged``; otherwise
    nothing is saved and the 409 lists them with what they rest on. Without If-Match: 428;
    another version in between: 412; a signed note: 409 (add an addendum)."""
    async with audited(ctx, request, who, Action.NOTE_SIGN, encounter_id) as work:
        await check_encounter(work.session, who, Action.NOTE_SIGN, encounter_id)
        if if_match is None:
            raise HTTPException(428, "send If-Match with the ETag of the version you edited")
        base = await repo.current_note(work.session, encounter_id)
        if base is None:
            raise HTTPException(409, NO_NOTE)
        if base.signed_at is not None:
            raise HTTPException(409, "already signed; add an addendum instead")
        if not matches(if_match, base):
            raise HTTPException(412, CHANGED, headers={"ETag": etag(base)})
        sections = {k: [" ".join(item.split()) for item in v] for k, v in body.sections}
        if not any(sections.values()):
            raise RequestValidationError(
                [{"loc": ("body", "sections"), "msg": "the note is empty", "type": "value_error"}]
            )
        note, edited = base, not same_sections(base, sections)
        if edited:
            turns = await repo.list_turns(work.session, encounter_id)
            try:
                note = await repo.add_note_version(
                    work.session,
                    encounter_id,
                    version=base.version + 1,
                    kind="edited",
                    status="draft",
                    text=render(sections),
                    sections=sections,
                    model=None,
                    author=who.name,
                    missing=base.missing_seqs,
                    evidence=await note_evidence(sections, turns),
                )
            except repo.VersionConflict:
                raise HTTPException(412, CHANGED) from None
        acked = {(_norm(a.statement), _norm(a.term)) for a in body.acknowledged}
        refused = unacknowledged(note, acked)
        if refused:
            # The whole request rolls back: nothing saved, nothing signed.
            raise DetailedHTTPException(
                409,
                f"{sum(len(st.flags) for st in refused)} high-severity flag(s) not acknowledged; "
                "review them (listed in flags) and sign again",
                {"flags": [st.model_dump(mode="json") for st in refused]},
            )
        high = open_high_flags(note.evidence if isinstance(note.evidence, list) else None)
        note = await repo.sign_note(work.session, encounter_id, note.version, who.name)
        await repo.drop_drafts(work.session, encounter_id)  # the note is locked now
        work.target = f"v{note.version} {'saved and ' if edited else ''}signed, attested"
        if high:
            work.target += f", acknowledged {high} high flags"
    await refresh_files(ctx, encounter_id)
    response.headers["ETag"] = etag(note)
    return note_out(note)


@router.post(
    "/regenerate",
    response_model=RegenerateAccepted,
    status_code=202,
    summary="Write the note again (optionally with another model)",
    responses=error_responses(401, 403, 404, 409),
)
async def regenerate(
    encounter_id: EncounterIdPath,
    request: Request,
    ctx: Ctx,
    who: Caller,
    body: RegenerateRequest | None = None,
) -> RegenerateAccepted:
    """Accepted (202): the notes service's scheduler writes the next version shortly.

    Follow ``GET /v1/encounters/{id}`` (status ``note_pending`` → ``ready`` or
    ``needs_review``) or the live events. Every earlier version (a clinician's edit too)
    stays in the history. Signed notes are not regenerated: add an addendum.
    """
    model = body.model if body is not None else None
    async with audited(ctx, request, who, Action.NOTE_REGENERATE, encounter_id) as work:
        await check_encounter(work.session, who, Action.NOTE_REGENERATE, encounter_id)
        if model is not None and model not in ctx.allowed_models:
            allowed = ", ".join(sorted(ctx.allowed_models))
            raise RequestValidationError(
                [{"loc": ("body", "model"), "msg": f"must be one of: {allowed}", "type": "enum"}]
            )
        enc = await repo.get_encounter(work.session, encounter_id)
        assert enc is not None
        if enc.status == "signed":
            raise HTTPException(409, "the note is signed; add an addendum instead")
        if enc.status not in REGENERATABLE:
            raise HTTPException(409, f"the encounter is {enc.status}; its note is not done yet")
        if await queries.count_turns(work.session, encounter_id) == 0:
            raise HTTPException(409, "the encounter has no transcript to write a note from")
        chosen = model or enc.llm_model or ctx.settings.default_llm_model
        # The scheduler writes the next version (kind "regenerated") with llm_model.
        enc.llm_model = chosen
        try:
            await repo.request_note(work.session, encounter_id)
        except repo.InvalidTransition as err:
            raise HTTPException(409, str(err)) from None
        work.status = 202
        work.target = chosen
    return RegenerateAccepted(
        encounter_id=encounter_id,
        status="note_pending",
        model=chosen,
        detail="the note will be written again; poll the encounter or follow its events",
    )


@router.post(
    "/addendum",
    response_model=NoteOut,
    status_code=201,
    summary="Add dated text to the signed note (a new version; the signed text stays)",
    responses=error_responses(401, 403, 404, 409, 412),
)
async def add_addendum(
    encounter_id: EncounterIdPath,
    body: AddendumIn,
    request: Request,
    response: Response,
    ctx: Ctx,
    who: Caller,
    if_match: IfMatch = None,
) -> NoteOut:
    """Only on a signed note (else 409: edit it instead). The new version keeps the
    signature it amends; the addendum is dated and names its author."""
    async with audited(ctx, request, who, Action.NOTE_ADDENDUM, encounter_id) as work:
        await check_encounter(work.session, who, Action.NOTE_ADDENDUM, encounter_id)
        base = await repo.current_note(work.session, encounter_id)
        if base is None:
            raise HTTPException(409, NO_NOTE)
        if if_match is not None and not matches(if_match, base):
            raise HTTPException(412, CHANGED, headers={"ETag": etag(base)})
        try:
            note = await repo.add_addendum(work.session, encounter_id, who.name, body.text)
        except repo.NotSigned:
            raise HTTPException(409, "the note is not signed yet; edit it instead") from None
        except repo.VersionConflict:
            raise HTTPException(412, CHANGED) from None
        work.status = 201
        work.target = f"v{note.version}"
    await refresh_files(ctx, encounter_id)
    response.headers["ETag"] = etag(note)
    return note_out(note)
