"""Token administration straight on the database (``medscribe notes token …``).

The CLI is how the first admin token comes to exist, so it cannot go through the API.
Each change writes an audit row with actor ``cli``.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime

from sqlalchemy import inspect
from sqlalchemy.ext.asyncio import AsyncSession

from services.notes.api import queries
from services.notes.auth import (
    TOKEN_NAME_RE,
    TOKEN_PREFIX,
    Action,
    check_token_spec,
    hash_token,
    new_token,
)
from services.notes.db import repo
from services.notes.db.engine import Database
from services.notes.db.models import ApiToken
from shared.errors import MedscribeError

CLI_ACTOR = "cli"


class TokenAdminError(MedscribeError):
    """A refusal with a message fit for the operator (no secrets, no patient data)."""


@dataclass(frozen=True)
class TokenInfo:
    id: int
    name: str
    role: str
    clinician_id: str | None
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


async def _require_tables(db: Database) -> None:
    async with db.engine.connect() as conn:
        present = await conn.run_sync(lambda c: inspect(c).has_table("api_tokens"))
    if not present:
        raise TokenAdminError("the database has no tables yet; run `medscribe notes migrate`")


def _info(token: ApiToken) -> TokenInfo:
    """The token's columns of the same names as the fields (never its hash)."""
    return TokenInfo(**{f.name: getattr(token, f.name) for f in fields(TokenInfo)})


async def _audit(session: AsyncSession, action: Action, target: str) -> None:
    await repo.add_audit(session, actor=CLI_ACTOR, action=action.value, target=target, status=200)


async def create(
    db: Database, name: str, role: str, clinician: str | None
) -> tuple[TokenInfo, str]:
    """A new token; returns its description and the secret (to be shown once)."""
    try:
        parsed = check_token_spec(name, role, clinician)
    except ValueError as err:
        raise TokenAdminError(str(err)) from None
    await _require_tables(db)
    secret = new_token()
    async with db.session() as session:
        if await queries.token_name_taken(session, name):
            raise TokenAdminError(f"a token named {name!r} exists (revoke it or pick another name)")
        try:
            token = await repo.create_token(
                session,
                name=name,
                role=parsed.value,
                clinician_id=clinician,
                token_hash=hash_token(secret),
            )
        except repo.VersionConflict:
            raise TokenAdminError(f"a token named {name!r} exists") from None
        await _audit(session, Action.TOKEN_CREATE, f"token:{token.id}")
        info = _info(token)
    return info, secret


async def list_all(db: Database) -> list[TokenInfo]:
    await _require_tables(db)
    async with db.session() as session:
        return [_info(t) for t in await repo.list_tokens(session)]


async def revoke(db: Database, name_or_id: str) -> TokenInfo:
    await _require_tables(db)
    async with db.session() as session:
        token = await queries.find_token(session, name_or_id)
        if token is None:
            if name_or_id.startswith(TOKEN_PREFIX) or not TOKEN_NAME_RE.match(name_or_id):
                # Not quoted back: it may be a pasted secret (and this message may be logged).
                raise TokenAdminError(
                    "no token has that name or number (see `medscribe notes token list`)"
                )
            raise TokenAdminError(f"no token named or numbered {name_or_id!r}")
        if token.revoked_at is not None:
            raise TokenAdminError(f"token {token.name!r} is already revoked")
        await repo.revoke_token(session, token.name)
        await _audit(session, Action.TOKEN_REVOKE, f"token:{token.id}")
        return _info(token)
