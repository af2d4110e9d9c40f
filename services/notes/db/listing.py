"""Encounter counts and ids for the scheduler's metrics and the CLI.

The staff API's encounter listing (filters, search, keyset pages) is in
``services/notes/api/queries.py``: one listing, not a second copy here.
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.notes.db.models import Encounter


async def all_encounter_ids(session: AsyncSession) -> list[str]:
    return list((await session.scalars(select(Encounter.id).order_by(Encounter.id))).all())


async def count_by_status(session: AsyncSession) -> dict[str, int]:
    rows = await session.execute(select(Encounter.status, func.count()).group_by(Encounter.status))
    return {status: int(n) for status, n in rows.all()}
