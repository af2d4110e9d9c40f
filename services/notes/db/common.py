"""What the repository modules share: errors, unique inserts, the dialect's upsert, gap
arithmetic."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from services.notes.db.models import Base, Turn
from shared.errors import MedscribeError

# Messages hold ids, version numbers and token names only (never note or transcript text).


class NotFound(MedscribeError, LookupError):
    """No such row (the message: its id or name)."""


class VersionConflict(MedscribeError, RuntimeError):
    """Another writer stored this row (note version, token name) first."""


class InvalidTransition(MedscribeError, RuntimeError):
    """The encounter's status does not allow this (the message: a fixed sentence)."""


class NotSigned(MedscribeError, RuntimeError):
    """The current note version is not signed (an addendum amends a signed note only)."""


class LeaseLost(MedscribeError, RuntimeError):
    """This replica no longer holds the note job (its lease ran out and another took it)."""


async def insert_unique(session: AsyncSession, row: Base, conflict: str) -> None:
    """Insert ``row`` now, or raise VersionConflict(``conflict``) when a unique key says
    another writer stored it first. A savepoint keeps the caller's transaction usable."""
    try:
        async with session.begin_nested():
            session.add(row)
            await session.flush()
    except IntegrityError:
        raise VersionConflict(conflict) from None


def dialect_insert(session: AsyncSession, table: Any) -> Any:
    """INSERT with ``on_conflict_do_*`` for the session's database (SQLite or PostgreSQL)."""
    name = session.get_bind().dialect.name
    return (postgresql.insert if name == "postgresql" else sqlite.insert)(table)


def missing_seqs(expected: int | None, present: Sequence[int]) -> list[int]:
    if expected is None:
        return []
    have = set(present)
    return [s for s in range(expected) if s not in have]


async def turn_seqs(session: AsyncSession, encounter_id: str) -> list[int]:
    """The seqs of the encounter's stored turns, in order (for :func:`missing_seqs`)."""
    stmt = select(Turn.seq).where(Turn.encounter_id == encounter_id).order_by(Turn.seq)
    return list((await session.scalars(stmt)).all())
