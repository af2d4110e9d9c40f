"""SQLAlchemy models of the clinical record (schema agreed in NOTES_SCHEMA.md).

Changes here need an Alembic revision in ``services/notes/migrations/versions`` and must
stay additive: the staff API codes against these names.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from services.notes.status import EncounterStatus

# Statuses are services.notes.status (EncounterStatus, NoteStatus).
NOTE_KINDS = ("generated", "regenerated", "edited", "addendum")

SYSTEM_ACTOR = "system"


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC on both databases.

    PostgreSQL stores ``timestamptz``. SQLite has no time zones: values are stored as naive
    UTC (so string comparison in SQL is time order) and come back tagged UTC.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; use timezone-aware UTC")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


JSONType = JSON().with_variant(JSONB(), "postgresql")

# Stable constraint names, so migrations can address them on both databases.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSONType}


class OfEncounter:
    """Columns of a row that belongs to one encounter and goes with it (the turns, note
    versions and drafts). ``sort_order`` keeps them first, as the migrations made them."""

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True, sort_order=-2)
    encounter_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("encounters.id", ondelete="CASCADE"), sort_order=-1
    )


class Encounter(Base):
    __tablename__ = "encounters"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    room: Mapped[str] = mapped_column(String(100), default="")
    clinician: Mapped[str | None] = mapped_column(String(100), index=True)
    llm_model: Mapped[str] = mapped_column(String(100), default="")
    speech_model: Mapped[str] = mapped_column(String(50), default="")
    # Of the audio on ms:audio:{id} (EncounterStarted.stt); the FLAC archive needs it.
    sample_rate: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(
        String(20), default=EncounterStatus.RECORDING.value, index=True
    )
    # False while the row is a placeholder created by a turn or event that overtook
    # EncounterStarted; room, models and started_at are then not yet known.
    started: Mapped[bool] = mapped_column(Boolean, default=False)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    stopped_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    transcribed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    note_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
    last_frame_seq: Mapped[int | None] = mapped_column(Integer)
    expected_turns: Mapped[int | None] = mapped_column(Integer)
    audio_ms: Mapped[int | None] = mapped_column(Integer)
    stt_audio_s: Mapped[int | None] = mapped_column(Integer)
    stt_session_s: Mapped[int | None] = mapped_column(Integer)
    failure_stage: Mapped[str | None] = mapped_column(String(20))
    failure_reason: Mapped[str | None] = mapped_column(String(500))
    missing_seqs: Mapped[list[int] | None] = mapped_column(JSONType)
    speaker_roles: Mapped[dict[str, str] | None] = mapped_column(JSONType)
    # seq (as text) -> speaker label the STT service revised after publishing the turn
    # (None: unassigned); applied to stored turns and to turns stored later.
    speaker_revisions: Mapped[dict[str, str | None] | None] = mapped_column(JSONType)
    # Who the visit was with and why (PHI: only here, never in Redis, logs or URLs).
    patient_name: Mapped[str | None] = mapped_column(String(200))
    patient_mrn: Mapped[str | None] = mapped_column(String(64), index=True)
    patient_dob: Mapped[date | None] = mapped_column(Date)
    visit_reason: Mapped[str | None] = mapped_column(String(300))
    # Note job bookkeeping (one generator at a time across replicas; retry while down).
    note_lease_owner: Mapped[str | None] = mapped_column(String(120))
    note_lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    note_attempts: Mapped[int] = mapped_column(Integer, default=0)
    note_next_try_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    note_error: Mapped[str | None] = mapped_column(String(100))
    # When the visit's audio and other Redis keys were deleted (services.notes.release);
    # null while they may still be needed.
    redis_released_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)
    # When the signed note last got an addendum (the list shows "signed · addendum").
    amended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    @property
    def patient(self) -> dict[str, Any] | None:
        """The patient as the API shows it (None when nobody was assigned)."""
        if self.patient_name is None and self.patient_mrn is None:
            return None
        return {"name": self.patient_name, "mrn": self.patient_mrn, "dob": self.patient_dob}


class Turn(OfEncounter, Base):
    __tablename__ = "turns"
    __table_args__ = (UniqueConstraint("encounter_id", "seq", name="uq_turns_encounter_seq"),)

    seq: Mapped[int] = mapped_column(Integer)
    stt_session_id: Mapped[str] = mapped_column(String(100), default="")
    turn_order: Mapped[int] = mapped_column(Integer, default=0)
    original_text: Mapped[str] = mapped_column(Text)
    edited_text: Mapped[str | None] = mapped_column(Text)
    edit_status: Mapped[str | None] = mapped_column(String(20))
    edit_reason: Mapped[str | None] = mapped_column(String(200))
    llm_model: Mapped[str | None] = mapped_column(String(100))
    flags: Mapped[list[dict[str, str]]] = mapped_column(JSONType, default=list)
    speaker: Mapped[str | None] = mapped_column(String(20))
    # The clinician's correction of this one turn's role; beats the speaker's role.
    role: Mapped[str | None] = mapped_column(String(20))
    start_ms: Mapped[int] = mapped_column(Integer, default=0)
    end_ms: Mapped[int] = mapped_column(Integer, default=0)
    formatted: Mapped[bool] = mapped_column(Boolean, default=True)
    # How final this version is (formatted, then LLM-edited beats fallback); a version
    # of lower quality never replaces a better one, whatever order they arrive in.
    quality: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class Note(OfEncounter, Base):
    __tablename__ = "notes"
    __table_args__ = (
        UniqueConstraint("encounter_id", "version", name="uq_notes_encounter_version"),
    )

    version: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20))
    text: Mapped[str] = mapped_column(Text)
    sections: Mapped[dict[str, list[str]]] = mapped_column(JSONType)
    model: Mapped[str | None] = mapped_column(String(100))
    author: Mapped[str | None] = mapped_column(String(100))
    problem: Mapped[str | None] = mapped_column(String(300))
    missing_seqs: Mapped[list[int] | None] = mapped_column(JSONType)
    # The statements of this version with their turns and flags (shared.evidence); None
    # for versions written before evidence existed (revision 0003).
    evidence: Mapped[list[dict[str, Any]] | None] = mapped_column(JSONType, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    signed_by: Mapped[str | None] = mapped_column(String(100))
    signed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Every addendum of a signed note so far, oldest first: {"at", "author", "text"}. The
    # signed text above them never changes (revision 0006).
    addenda: Mapped[list[dict[str, Any]] | None] = mapped_column(JSONType, nullable=True)


class NoteDraft(OfEncounter, Base):
    """A clinician's unsaved edit, saved by the console as they type (one per author and
    encounter), so that an ended session or a closed tab loses nothing."""

    __tablename__ = "note_drafts"
    __table_args__ = (
        UniqueConstraint("encounter_id", "author", name="uq_note_drafts_encounter_author"),
    )

    author: Mapped[str] = mapped_column(String(100))
    base_version: Mapped[int] = mapped_column(Integer)
    sections: Mapped[dict[str, list[str]]] = mapped_column(JSONType)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class AfterVisitSummary(Base):
    """A plain-language summary for the patient, written on request from the signed note
    (revision 0008). Every request adds a row; the newest is the summary. Its statements
    are checked against the signed note (``evidence``, shared.evidence); the flags are
    shown with it, never hidden."""

    __tablename__ = "after_visit_summaries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    encounter_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("encounters.id", ondelete="CASCADE"), index=True
    )
    # The signed note version it was written from (an addendum later makes it older).
    note_version: Mapped[int] = mapped_column(Integer)
    sections: Mapped[dict[str, list[str]]] = mapped_column(JSONType)
    text: Mapped[str] = mapped_column(Text)
    evidence: Mapped[list[dict[str, Any]]] = mapped_column(JSONType)
    open_high_flags: Mapped[int] = mapped_column(Integer, default=0)
    model: Mapped[str] = mapped_column(String(100))
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class RoomAssignment(Base):
    """The next patient (and clinician) the front desk assigned to a room; attached to the
    room's next encounter when it starts (oldest unused first)."""

    __tablename__ = "room_assignments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    room: Mapped[str] = mapped_column(String(100), index=True)
    patient_name: Mapped[str] = mapped_column(String(200))
    patient_mrn: Mapped[str | None] = mapped_column(String(64))
    patient_dob: Mapped[date | None] = mapped_column(Date)
    visit_reason: Mapped[str | None] = mapped_column(String(300))
    clinician: Mapped[str | None] = mapped_column(String(100))
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    encounter_id: Mapped[str | None] = mapped_column(String(64))
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    @property
    def patient(self) -> dict[str, Any]:
        return {"name": self.patient_name, "mrn": self.patient_mrn, "dob": self.patient_dob}


class ApiToken(Base):
    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    role: Mapped[str] = mapped_column(String(20))
    clinician_id: Mapped[str | None] = mapped_column(String(100))
    token_hash: Mapped[str] = mapped_column(String(128), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The owner's console password (services/notes/passwords.py); None: key or link only.
    password_hash: Mapped[str | None] = mapped_column(String(200))


class AuditEntry(Base):
    """Append-only: the code never updates or deletes these rows."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_encounter_at", "encounter_id", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(100))
    role: Mapped[str | None] = mapped_column(String(20))
    action: Mapped[str] = mapped_column(String(50))
    encounter_id: Mapped[str | None] = mapped_column(String(64))
    target: Mapped[str | None] = mapped_column(String(100))
    source_ip: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[int] = mapped_column(Integer)


class ConsoleSession(Base):
    """A signed-in web console session (issue 13).

    Only the SHA-256 of the session id is stored (the id lives in the browser's HttpOnly
    cookie), so a copy of the database cannot be replayed as a session. A session acts with
    its API token's identity and role; revoking the token ends it.
    """

    __tablename__ = "console_sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    session_hash: Mapped[str] = mapped_column(String(64), unique=True)
    token_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("api_tokens.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
