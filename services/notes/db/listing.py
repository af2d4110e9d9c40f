"""Listing encounters for the staff API: filters, newest first, keyset pagination."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.notes.db.models import Encounter


@dataclass(frozen=True)
class EncounterFilter:
    status: str | None = None
    clinician: str | None = None
    room: str | None = None
    since: datetime | None = None
    until: datetime | None = None


def _encode_cursor(enc: Encounter) -> str:
    raw = f"{enc.started_at.astimezone(UTC).isoformat()}|{enc.id}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    """Raises ValueError for a cursor this module did not make."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        at, enc_id = raw.split("|", 1)
        return datetime.fromisoformat(at), enc_id
    except Exception:  # noqa: BLE001 - any garbage is the same client error
        raise ValueError("invalid cursor") from None


async def list_encounters(
    session: AsyncSession,
    filters: EncounterFilter | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> tuple[list[Encounter], str | None]:
    """Newest first; returns the page and the cursor of the next page (None at the end)."""
    f = filters or EncounterFilter()
    stmt = select(Encounter)
    if f.status:
        stmt = stmt.where(Encounter.status == f.status)
    if f.clinician:
        stmt = stmt.where(Encounter.clinician == f.clinician)
    if f.room:
        stmt = stmt.where(Encounter.room == f.room)
    if f.since:
        stmt = stmt.where(Encounter.started_at >= f.since)
    if f.until:
        stmt = stmt.where(Encounter.started_at < f.until)
    if cursor:
        at, enc_id = decode_cursor(cursor)
        stmt = stmt.where(
            or_(Encounter.started_at < at, and_(Encounter.started_at == at, Encounter.id < enc_id))
        )
    stmt = stmt.order_by(Encounter.started_at.desc(), Encounter.id.desc()).limit(limit + 1)
    rows = list((await session.scalars(stmt)).all())
    if len(rows) > limit:
        return rows[:limit], _encode_cursor(rows[limit - 1])
    return rows, None


async def all_encounter_ids(session: AsyncSession) -> list[str]:
    return list((await session.scalars(select(Encounter.id).order_by(Encounter.id))).all())


async def count_by_status(session: AsyncSession) -> dict[str, int]:
    rows = await session.execute(select(Encounter.status, func.count()).group_by(Encounter.status))
    return {status: int(n) for status, n in rows.all()}
