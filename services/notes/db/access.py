"""The audit log (append-only: nothing here updates or deletes it) and API tokens."""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.notes.db.common import NotFound, insert_unique
from services.notes.db.models import ApiToken, AuditEntry, utcnow


async def add_audit(
    session: AsyncSession,
    *,
    actor: str,
    action: str,
    status: int,
    role: str | None = None,
    encounter_id: str | None = None,
    target: str | None = None,
    source_ip: str | None = None,
) -> AuditEntry:
    entry = AuditEntry(
        at=utcnow(),
        actor=actor,
        role=role,
        action=action,
        encounter_id=encounter_id,
        target=target,
        source_ip=source_ip,
        status=status,
    )
    session.add(entry)
    await session.flush()
    return entry


async def create_token(
    session: AsyncSession, *, name: str, role: str, token_hash: str, clinician_id: str | None
) -> ApiToken:
    token = ApiToken(
        name=name, role=role, clinician_id=clinician_id, token_hash=token_hash, created_at=utcnow()
    )
    await insert_unique(session, token, f"token name {name!r} exists")
    return token


async def find_token_by_hash(session: AsyncSession, token_hash: str) -> ApiToken | None:
    """The live (not revoked) token with this hash."""
    stmt = select(ApiToken).where(ApiToken.token_hash == token_hash, ApiToken.revoked_at.is_(None))
    return (await session.scalars(stmt)).first()


async def find_token_by_name(session: AsyncSession, name: str) -> ApiToken | None:
    """The live (not revoked) token of this name."""
    stmt = select(ApiToken).where(ApiToken.name == name, ApiToken.revoked_at.is_(None))
    return (await session.scalars(stmt)).first()


async def set_password(session: AsyncSession, token_id: int, password_hash: str) -> None:
    await session.execute(
        update(ApiToken).where(ApiToken.id == token_id).values(password_hash=password_hash)
    )


async def touch_token(session: AsyncSession, token_id: int) -> None:
    await session.execute(
        update(ApiToken).where(ApiToken.id == token_id).values(last_used_at=utcnow())
    )


async def revoke_token(session: AsyncSession, name: str) -> ApiToken:
    token = (await session.scalars(select(ApiToken).where(ApiToken.name == name))).first()
    if token is None:
        raise NotFound(name)
    if token.revoked_at is None:
        token.revoked_at = utcnow()
    return token


async def list_tokens(session: AsyncSession) -> list[ApiToken]:
    return list((await session.scalars(select(ApiToken).order_by(ApiToken.id))).all())
