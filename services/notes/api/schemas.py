"""Request and response bodies of the staff API (the OpenAPI schema is generated from these).

Request models forbid unknown fields and reject control characters (a NUL byte cannot be
stored in PostgreSQL text and has no business in a clinical note), so bad input is a 422,
never a database error.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from services.notes.auth import CLINICIAN_ID_RE, TOKEN_NAME_RE, Role
from services.notes.status import EncounterStatus
from shared.evidence.terms import Kind

ENCOUNTER_ID_PATTERN = r"^[A-Za-z0-9_.:-]{1,64}$"
NoteKind = Literal["generated", "regenerated", "edited", "addendum"]

MAX_SECTION_ITEMS = 200
MAX_ITEM_CHARS = 4000
# The whole edited note (issue 20): generous for a SOAP note, small enough to align fast.
MAX_NOTE_STATEMENTS = 300
MAX_NOTE_CHARS = 60_000


def _no_control_chars(value: str) -> str:
    for ch in value:
        if ord(ch) < 32 and ch not in "\t\n\r":
            raise ValueError("must not contain control characters")
        if 0xD800 <= ord(ch) <= 0xDFFF:
            raise ValueError("must not contain unpaired surrogates")
    return value


CleanText = Annotated[str, AfterValidator(_no_control_chars)]
SectionItem = Annotated[CleanText, Field(min_length=1, max_length=MAX_ITEM_CHARS)]
SectionItems = Annotated[list[SectionItem], Field(max_length=MAX_SECTION_ITEMS)]


class Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ErrorBody(Out):
    """Every 4xx/5xx except validation errors: one sentence, never patient data."""

    detail: str


class Sections(Out):
    """The four SOAP sections, one list item per statement."""

    model_config = ConfigDict(extra="forbid", from_attributes=True)

    subjective: SectionItems = Field(default_factory=list)
    objective: SectionItems = Field(default_factory=list)
    assessment: SectionItems = Field(default_factory=list)
    plan: SectionItems = Field(default_factory=list)


class SectionsOut(Out):
    """The four SOAP sections as stored (not re-validated: a stored note is always served)."""

    subjective: list[str]
    objective: list[str]
    assessment: list[str]
    plan: list[str]


class PatientOut(Out):
    name: str | None
    mrn: str | None
    dob: date | None


class EncounterSummary(Out):
    id: str
    room: str
    clinician: str | None
    patient: PatientOut | None = Field(None, description="Who the visit was with, if assigned.")
    visit_reason: str | None = None
    status: str
    started_at: datetime
    stopped_at: datetime | None
    note_at: datetime | None
    updated_at: datetime
    llm_model: str
    speech_model: str
    amended_at: datetime | None = Field(
        None, description="When the signed note last got an addendum (null: never)."
    )


SearchText = Annotated[CleanText, Field(min_length=1, max_length=200)]
FilterText = Annotated[CleanText, Field(min_length=1, max_length=100)]


class EncounterSearch(In):
    """The list filters as a body: the console searches this way, so that words of a note
    never travel in a URL (URLs end up in proxy logs and browser history)."""

    status: EncounterStatus | None = None
    room: FilterText | None = None
    clinician: FilterText | None = None
    started_after: datetime | None = Field(None, description="UTC if no zone.")
    started_before: datetime | None = None
    q: SearchText | None = Field(
        None,
        description="Free text searched in the current note, the patient's name, the MRN "
        "and the encounter id.",
    )
    unassigned: bool = Field(
        False, description="Only visits recorded without a clinician (the queue to claim)."
    )
    to_sign: bool = Field(
        False, description="Only notes awaiting a signature (needs_review or ready)."
    )
    cursor: Annotated[str, Field(max_length=300, pattern=r"^[A-Za-z0-9_-]+$")] | None = None
    limit: int = Field(50, ge=1, le=200)


class EncounterPage(Out):
    items: list[EncounterSummary]
    next_cursor: str | None = Field(
        None, description="Pass as `cursor` to get the next page; null on the last page."
    )


class Timings(Out):
    """Durations (seconds) derived from the encounter's timestamps; null until known."""

    recording_s: float | None = Field(None, description="started_at → stopped_at")
    transcription_lag_s: float | None = Field(None, description="stopped_at → transcribed_at")
    note_lag_s: float | None = Field(None, description="transcribed_at → note_at")
    total_s: float | None = Field(None, description="started_at → note_at")


class NoteRef(Out):
    version: int
    kind: str
    status: str
    created_at: datetime


class EncounterDetail(EncounterSummary):
    transcribed_at: datetime | None
    audio_ms: int | None
    expected_turns: int | None
    stored_turns: int
    missing_seqs: list[int] | None
    failure_stage: str | None
    failure_reason: str | None
    speaker_roles: dict[str, str] | None
    stt_audio_s: int | None
    stt_session_s: int | None
    timings: Timings
    note: NoteRef | None = Field(None, description="The current (highest) note version.")
    audio_released_at: datetime | None = Field(
        None, description="When the visit's audio and other Redis keys were deleted."
    )
    audio_kept_until: datetime | None = Field(
        None,
        description="Transcription failed: the audio stays in Redis for a replay until this "
        "time, then it is deleted.",
    )
    audio_warning: str | None = Field(None, description="Why someone should act, if so.")


class FlagOut(Out):
    kind: str
    term: str
    # "negated": the patient denied it (shown as "denies: ..."); older turns: "present".
    assertion: str = "present"


class TurnOut(Out):
    seq: int
    speaker: str | None
    speaker_role: str | None = Field(None, description="clinician, patient or other, if known")
    role_corrected: bool = Field(
        False, description="speaker_role is the clinician's correction of this one turn."
    )
    start_ms: int
    end_ms: int
    text: str = Field(description="The edited text, or the original when there is no edit.")
    original_text: str
    edit_status: str | None
    flags: list[FlagOut]


class Transcript(Out):
    encounter_id: str
    status: str
    expected_turns: int | None
    missing_seqs: list[int] = Field(
        description="Sequence numbers below the expected count that are not stored."
    )
    turns: list[TurnOut]


# Every kind the checks write (terms and meaning): a kind missing here made its statement
# fail validation and vanish from the note's statements and from the sign refusal.
FlagKindOut = Kind


class StatementFlagOut(Out):
    """A term of the statement that the transcript does not support."""

    id: str = Field(description='"<statement id>:<n>"')
    kind: FlagKindOut
    severity: Literal["high", "medium", "low"]
    term: str = Field(description="The term as the statement wrote it.")
    message: str


class StatementOut(Out):
    """One bullet of the note with the turns it rests on and its flags."""

    id: str = Field(description='"<section>-<index>"')
    section: Literal["subjective", "objective", "assessment", "plan"]
    index: int = Field(description="Position in the section's list.")
    text: str
    seqs: list[int] = Field(description="Turn numbers (TurnOut.seq) the statement rests on.")
    links: Literal["model", "computed", "none"] = Field(
        description="Who linked the turns: the model, the alignment, or nobody."
    )
    flags: list[StatementFlagOut]


class AddendumOut(Out):
    at: datetime
    author: str
    text: str


class NoteOut(Out):
    encounter_id: str
    version: int
    kind: str
    status: str
    text: str
    sections: SectionsOut
    model: str | None
    author: str | None
    problem: str | None
    missing_seqs: list[int] | None
    created_at: datetime
    signed_by: str | None
    signed_at: datetime | None
    etag: str = Field(description="Send back in If-Match to edit or sign this version.")
    statements: list[StatementOut] = Field(
        default_factory=list, description="Empty for versions written without evidence."
    )
    open_high_flags: int = Field(0, description="Number of severity=high flags in this version.")
    addenda: list[AddendumOut] = Field(
        default_factory=list, description="Addenda to the signed text, oldest first."
    )


class NoteVersions(Out):
    encounter_id: str
    versions: list[NoteOut] = Field(description="Oldest first.")


class NoteUpdate(In):
    """A clinician's edit: the full new content of the four sections."""

    sections: Sections

    @model_validator(mode="after")
    def _not_too_big(self) -> NoteUpdate:
        # Evidence aligns every statement with every turn: a bound on the note bounds the
        # CPU one edit can cost (a real SOAP note is a few kB and a few dozen statements).
        items = [item for _, section in self.sections for item in section]
        if len(items) > MAX_NOTE_STATEMENTS:
            raise ValueError(f"the note may have at most {MAX_NOTE_STATEMENTS} statements")
        if sum(len(item) for item in items) > MAX_NOTE_CHARS:
            raise ValueError(f"the note may have at most {MAX_NOTE_CHARS} characters")
        return self


class AddendumIn(In):
    """Text added below a signed note, dated and attributed; the signed text stays."""

    text: Annotated[CleanText, Field(min_length=1, max_length=MAX_ITEM_CHARS)]

    @field_validator("text")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("the addendum is empty")
        return value.strip()


class DraftIn(NoteUpdate):
    """The clinician's unsaved edit and the version it was made on."""

    base_version: int = Field(ge=1, le=1_000_000)


class DraftOut(Out):
    encounter_id: str
    author: str
    base_version: int
    sections: SectionsOut
    updated_at: datetime


SpeakerRole = Literal["clinician", "patient", "other"]


class TurnRoleIn(In):
    role: SpeakerRole | None = Field(
        description="Who said this turn; null: as its speaker (undo a correction)."
    )


class SpeakerRolesOut(Out):
    encounter_id: str
    speaker_roles: dict[str, str]
    turn_roles: dict[int, str] = Field(
        default_factory=dict, description="Turns corrected one by one (seq → role)."
    )


class SignRequest(In):
    acknowledge_flags: bool = Field(
        False,
        description="Sign although the note has high-severity flags (recorded in the audit).",
    )


ATTESTATION = (
    "I have reviewed this note and attest that it is accurate and complete; once signed it "
    "is locked and corrections are added as dated addenda."
)


class FlagAck(In):
    """One high flag the clinician saw and signs anyway: the statement's text and the term
    (content, not positions, so an edit cannot move an acknowledgement onto another flag)."""

    statement: Annotated[CleanText, Field(min_length=1, max_length=MAX_ITEM_CHARS)]
    term: Annotated[CleanText, Field(min_length=1, max_length=200)]


class SaveAndSignIn(NoteUpdate):
    """The clinician's final text, their attestation and the high flags they acknowledge:
    saved (if it changed) and signed in one transaction."""

    attest: Literal[True] = Field(description=f"Must be true: {ATTESTATION}")
    acknowledged: Annotated[list[FlagAck], Field(max_length=MAX_NOTE_STATEMENTS)] = Field(
        default_factory=list,
        description="Every high flag of the text being signed must be listed here, else 409 "
        "with the flags that are not.",
    )


class SignRefused(Out):
    """409 of save-and-sign: high flags the clinician has not acknowledged (nothing saved)."""

    detail: str
    flags: list[StatementOut] = Field(
        description="The statements with their high flags not acknowledged yet."
    )


class SummaryRequest(In):
    model: str | None = Field(
        None, max_length=100, description="LLM model to write it with; default: the note's."
    )


class SummarySections(Out):
    reason: list[str] = Field(description="Why you came in")
    findings: list[str] = Field(description="What we found")
    next_steps: list[str] = Field(description="What to do next")


class SummaryStatementOut(Out):
    """One bullet of the summary, the note lines it rests on, and its flags."""

    id: str
    section: Literal["reason", "findings", "next_steps"]
    index: int
    text: str
    seqs: list[int] = Field(description="Lines of the signed note (statements, then addenda).")
    links: Literal["model", "computed", "none"]
    flags: list[StatementFlagOut]


class SummaryOut(Out):
    encounter_id: str
    note_version: int = Field(description="The signed note version it was written from.")
    outdated: bool = Field(
        description="The note has changed since (an addendum): write the summary again."
    )
    sections: SummarySections
    text: str
    statements: list[SummaryStatementOut]
    open_high_flags: int = Field(
        description="Statements the signed note does not support (drug, dose, side …): "
        "review before giving it to the patient."
    )
    check: Literal["passed", "flagged"]
    model: str
    created_by: str
    created_at: datetime


class RegenerateRequest(In):
    model: str | None = Field(
        None, max_length=100, description="LLM model to write the note with; default: as before."
    )


class RegenerateAccepted(Out):
    encounter_id: str
    status: str
    model: str
    detail: str


class AuditEntryOut(Out):
    id: int
    at: datetime
    actor: str
    role: str | None
    action: str
    encounter_id: str | None
    target: str | None
    source_ip: str | None
    status: int


class AuditPage(Out):
    items: list[AuditEntryOut]
    next_cursor: str | None


def _token_name(value: str) -> str:
    if not TOKEN_NAME_RE.match(value):
        raise ValueError("letters, digits and _ . @ - only; must start with a letter or digit")
    return value


def _clinician_id(value: str | None) -> str | None:
    if value is not None and not CLINICIAN_ID_RE.match(value):
        raise ValueError("letters, digits and _ . @ : - only; must start with a letter or digit")
    return value


class TokenCreate(In):
    name: Annotated[str, Field(min_length=1, max_length=100), AfterValidator(_token_name)]
    role: Role
    clinician_id: Annotated[
        str | None, Field(None, max_length=100), AfterValidator(_clinician_id)
    ] = None


class TokenOut(Out):
    id: int
    name: str
    role: str
    clinician_id: str | None
    created_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None


class TokenCreated(TokenOut):
    token: str = Field(description="The secret. Shown only in this response; store it now.")


class SigninLink(Out):
    url: str = Field(description="Relative to the console: open it once to be signed in.")
    expires_in_s: int


class TokenList(Out):
    items: list[TokenOut]


class RoomCredentialIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(
        min_length=1,
        max_length=100,
        description="The room's name: 1-32 lower-case letters, digits and inner hyphens.",
    )


class RoomCredentialOut(Out):
    name: str
    user: str = Field(description="The room's Redis user (room-<name>).")
    created_at: str
    active: bool = Field(description="False when Redis no longer has the room's user.")


class RoomCredentialCreated(RoomCredentialOut):
    password: str = Field(
        description="The room user's Redis password. Shown only in this response; put it in "
        "the room machine's MEDSCRIBE_REDIS_URL now."
    )


class RoomCredentialList(Out):
    items: list[RoomCredentialOut]


class StreamTicket(Out):
    ticket: str
    expires_in_s: int
    url: str = Field(description="Open this with EventSource (relative to the API).")


class Health(Out):
    status: Literal["ok"]


class Readiness(Out):
    status: Literal["ok", "unavailable"]
    checks: dict[str, str]
    warnings: list[str] | None = Field(
        None, description="Ready, but someone should look (e.g. redis_memory_near_budget)."
    )


class PurgeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    confirm_signed: bool = Field(
        False, description="Required when the encounter has a signed note (the medical record)."
    )


class PurgeResult(BaseModel):
    """What was removed, as counts (never content)."""

    encounter_id: str
    status: Literal["purged"]
    turns: int
    note_versions: int
    export_folders: int
    redis_keys: int


ROOM_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,99}$"


class AssignmentIn(BaseModel):
    """The next patient of a room, as the front desk enters it."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    patient_name: str = Field(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f]+$")
    mrn: str | None = Field(None, min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    dob: date | None = Field(None, description="Date of birth (YYYY-MM-DD).")
    visit_reason: str | None = Field(None, max_length=300, pattern=r"^[^\x00-\x1f\x7f]*$")
    clinician: str | None = Field(None, max_length=100, pattern=CLINICIAN_ID_RE.pattern)

    @field_validator("dob")
    @classmethod
    def _not_future(cls, value: date | None) -> date | None:
        if value is not None and (value > date.today() or value.year < 1880):
            raise ValueError("must be a real date of birth, not in the future")
        return value


class AssignmentOut(Out):
    id: int
    room: str
    patient: PatientOut
    visit_reason: str | None
    clinician: str | None
    created_by: str
    created_at: datetime
    encounter_id: str | None = Field(None, description="The visit it was attached to, once used.")
    used_at: datetime | None


class AssignmentList(Out):
    items: list[AssignmentOut]


class ClaimIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    clinician: str | None = Field(
        None,
        max_length=100,
        pattern=CLINICIAN_ID_RE.pattern,
        description="Admins assign to this clinician; a clinician always claims for themselves.",
    )
