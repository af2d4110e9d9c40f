"""Database queries of the staff API that the notes repository (``db/repo.py``) lacks.

Everything else goes through the repository. Added here: the encounter listing with a
free-text search over the current note, the audit log listing with action/until filters
and a next-page cursor, existence/ownership probes that load no patient data, and small
token lookups. All functions take the caller's ``AsyncSession``, so the audit row lands
in the same transaction as the read or change.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Select, and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from services.notes.api.schemas import ENCOUNTER_ID_PATTERN
from services.notes.db import repo
from services.notes.db.models import ApiToken, AuditEntry, Encounter, Note, Turn, utcnow
from services.notes.status import AWAITING_SIGNATURE
from shared.errors import MedscribeError

_ENCOUNTER_ID = re.compile(ENCOUNTER_ID_PATTERN)
# Touch a token's last_used_at at most this often (it is a write per request otherwise).
TOKEN_TOUCH_INTERVAL = timedelta(seconds=60)


class BadQuery(MedscribeError, ValueError):
    """A query parameter the database cannot use (answered with 422; the message names
    the parameter, never its value)."""


class BadCursor(BadQuery):
    pass


def encode_cursor(values: list[Any]) -> str:
    raw = json.dumps(values, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, shape: tuple[type, ...]) -> list[Any]:
    """Parse an opaque cursor; BadCursor when it is not one we issued."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        values = json.loads(raw)
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise BadCursor(
            "cursor is not valid; pass back the next_cursor of a previous page"
        ) from None
    if not isinstance(values, list) or len(values) != len(shape):
        raise BadCursor("cursor is not valid; pass back the next_cursor of a previous page")
    for value, kind in zip(values, shape, strict=True):
        if not isinstance(value, kind) or isinstance(value, bool):
            raise BadCursor("cursor is not valid; pass back the next_cursor of a previous page")
    return values


def as_utc(value: datetime) -> datetime:
    """Query parameters without a zone are taken as UTC."""
    try:
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    except OverflowError:
        raise BadQuery("date is out of range") from None


def like_pattern(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


# --- encounters -------------------------------------------------------------------------


@dataclass(frozen=True)
class EncounterFilter:
    status: str | None = None
    room: str | None = None
    clinician: str | None = None
    started_after: datetime | None = None
    started_before: datetime | None = None
    text: str | None = None
    unassigned: bool = False
    to_sign: bool = False


def _current_note_version() -> Any:
    other = aliased(Note)
    return (
        select(func.max(other.version))
        .where(other.encounter_id == Note.encounter_id)
        .scalar_subquery()
    )


def _narrowed(
    query: Select[Any],
    equal: tuple[tuple[Any, str | None], ...],
    at: Any,
    since: datetime | None,
    until: datetime | None,
) -> Select[Any]:
    """Keep rows whose columns equal the given values and whose ``at`` lies in
    [since, until); a filter left empty is no filter."""
    for column, value in equal:
        if value:
            query = query.where(column == value)
    if since:
        query = query.where(at >= as_utc(since))
    if until:
        query = query.where(at < as_utc(until))
    return query


async def _page(
    session: AsyncSession, query: Select[Any], limit: int, key: Callable[[Any], list[Any]]
) -> tuple[list[Any], str | None]:
    """One page of ``query`` (ordered by the caller) and the cursor, made by ``key`` from
    the page's last row, of the next page (None on the last page)."""
    rows = list((await session.scalars(query.limit(limit + 1))).all())
    if len(rows) <= limit:
        return rows, None
    rows = rows[:limit]
    return rows, encode_cursor(key(rows[-1]))


def _filtered(query: Select[Any], f: EncounterFilter) -> Select[Any]:
    e = Encounter
    equal = ((e.status, f.status), (e.room, f.room), (e.clinician, f.clinician))
    query = _narrowed(query, equal, e.started_at, f.started_after, f.started_before)
    if f.text:
        # Search the current note version only: an old, corrected text must not match.
        in_note = (
            select(Note.id)
            .where(
                Note.encounter_id == Encounter.id,
                Note.version == _current_note_version(),
                Note.text.ilike(like_pattern(f.text), escape="\\"),
            )
            .exists()
        )
        # The front desk searches by patient name, MRN or the encounter id.
        query = query.where(
            or_(
                in_note,
                Encounter.patient_name.ilike(like_pattern(f.text), escape="\\"),
                Encounter.patient_mrn == f.text.strip(),
                Encounter.id == f.text.strip(),
            )
        )
    if f.unassigned:
        query = query.where(Encounter.clinician.is_(None))
    if f.to_sign:
        query = query.where(Encounter.status.in_(AWAITING_SIGNATURE))  # the worklist
    return query


async def list_encounters(
    session: AsyncSession, f: EncounterFilter, cursor: str | None, limit: int
) -> tuple[list[Encounter], str | None]:
    """Newest first; the cursor is (started_at, id) of the last row of the previous page."""
    query = _filtered(select(Encounter), f)
    if cursor:
        at_raw, last_id = decode_cursor(cursor, (str, str))
        # The id goes into SQL: only what an encounter id can be (a NUL is a 500 on PostgreSQL).
        if not _ENCOUNTER_ID.fullmatch(last_id):
            raise BadCursor("cursor is not valid")
        try:
            at = as_utc(datetime.fromisoformat(at_raw))
        except ValueError:
            raise BadCursor("cursor is not valid") from None
        query = query.where(
            or_(
                Encounter.started_at < at,
                and_(Encounter.started_at == at, Encounter.id < last_id),
            )
        )
    query = query.order_by(Encounter.started_at.desc(), Encounter.id.desc())
    return await _page(session, query, limit, lambda last: [last.started_at.isoformat(), last.id])


async def encounter_clinician(session: AsyncSession, encounter_id: str) -> tuple[bool, str | None]:
    """(exists, clinician) without loading the row."""
    row = (
        await session.execute(select(Encounter.clinician).where(Encounter.id == encounter_id))
    ).first()
    return (row is not None, row[0] if row is not None else None)


async def encounter_status(session: AsyncSession, encounter_id: str) -> str | None:
    return await session.scalar(select(Encounter.status).where(Encounter.id == encounter_id))


async def count_turns(session: AsyncSession, encounter_id: str) -> int:
    query = select(func.count()).select_from(Turn).where(Turn.encounter_id == encounter_id)
    return int(await session.scalar(query) or 0)


# --- notes --------------------------------------------------------------------------------


async def latest_signed_note(session: AsyncSession, encounter_id: str) -> Note | None:
    query = (
        select(Note)
        .where(Note.encounter_id == encounter_id, Note.signed_at.is_not(None))
        .order_by(Note.version.desc())
        .limit(1)
    )
    return await session.scalar(query)


# --- tokens -------------------------------------------------------------------------------


async def touch_token(session: AsyncSession, token: ApiToken) -> None:
    """Record use, at most once a minute (otherwise every read would be a write)."""
    if token.last_used_at is None or utcnow() - token.last_used_at >= TOKEN_TOUCH_INTERVAL:
        await repo.touch_token(session, token.id)


async def token_name_taken(session: AsyncSession, name: str) -> bool:
    return (await session.scalar(select(ApiToken.id).where(ApiToken.name == name))) is not None


async def get_token(session: AsyncSession, token_id: int) -> ApiToken | None:
    return await session.get(ApiToken, token_id)


async def find_token(session: AsyncSession, name_or_id: str) -> ApiToken | None:
    if name_or_id.isdigit():
        found = await session.get(ApiToken, int(name_or_id))
        if found is not None:
            return found
    return await session.scalar(select(ApiToken).where(ApiToken.name == name_or_id))


# --- audit log ----------------------------------------------------------------------------


@dataclass(frozen=True)
class AuditFilter:
    actor: str | None = None
    action: str | None = None
    encounter_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None


async def list_audit(
    session: AsyncSession, f: AuditFilter, cursor: str | None, limit: int
) -> tuple[list[AuditEntry], str | None]:
    """Newest first by id (ids only grow, so the cursor is the last id seen)."""
    a = AuditEntry
    equal = ((a.actor, f.actor), (a.action, f.action), (a.encounter_id, f.encounter_id))
    query = _narrowed(select(a), equal, a.at, f.since, f.until)
    if cursor:
        (last_id,) = decode_cursor(cursor, (int,))
        if not 0 < last_id < 2**62:
            raise BadCursor("cursor is not valid")
        query = query.where(AuditEntry.id < last_id)
    query = query.order_by(AuditEntry.id.desc())
    return await _page(session, query, limit, lambda last: [last.id])
