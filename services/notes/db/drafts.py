"""A clinician's unsaved note edit, one per author and encounter (saved as they type)."""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.notes.db.common import dialect_insert
from services.notes.db.models import NoteDraft, utcnow


async def get_draft(session: AsyncSession, encounter_id: str, author: str) -> NoteDraft | None:
    stmt = select(NoteDraft).where(
        NoteDraft.encounter_id == encounter_id, NoteDraft.author == author
    )
    return (await session.scalars(stmt)).first()


async def save_draft(
    session: AsyncSession,
    encounter_id: str,
    author: str,
    base_version: int,
    sections: dict[str, list[str]],
) -> NoteDraft:
    """Insert or replace the author's draft (the last save wins: it is their own text)."""
    values = {"base_version": base_version, "sections": sections, "updated_at": utcnow()}
    stmt = dialect_insert(session, NoteDraft).values(
        encounter_id=encounter_id, author=author, **values
    )
    await session.execute(
        stmt.on_conflict_do_update(index_elements=["encounter_id", "author"], set_=values)
    )
    draft = await get_draft(session, encounter_id, author)
    assert draft is not None
    await session.refresh(draft)
    return draft


async def drop_drafts(session: AsyncSession, encounter_id: str, author: str | None = None) -> int:
    """Delete the author's draft (or every draft of the encounter); returns how many."""
    stmt = delete(NoteDraft).where(NoteDraft.encounter_id == encounter_id)
    if author is not None:
        stmt = stmt.where(NoteDraft.author == author)
    result = await session.execute(stmt)
    return int(getattr(result, "rowcount", 0) or 0)
