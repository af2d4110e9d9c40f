"""Alembic, configured in code so migrations work from an installed package.

``upgrade(url)`` / ``downgrade(url, rev)`` are what `medscribe notes migrate` runs;
``check_current(url)`` is what the service checks at start (it never migrates on its own).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection

from services.notes.db.engine import Database
from shared.errors import MedscribeError

SCRIPT_LOCATION = "services.notes:migrations"


class MigrationNeeded(MedscribeError, RuntimeError):
    """The database is not at the code's schema revision (the message: revision ids)."""


@dataclass(frozen=True)
class SchemaState:
    current: str | None
    head: str

    @property
    def up_to_date(self) -> bool:
        return self.current == self.head


def alembic_config(url: str = "") -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", SCRIPT_LOCATION)
    # '%' must be doubled for configparser (passwords may contain it).
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None, "no migration scripts packaged"
    return head


async def _with_connection(url: str, action: str, revision: str) -> None:
    db = Database(url)
    try:
        async with db.engine.connect() as conn:

            def go(sync_conn: Connection) -> None:
                cfg = alembic_config(url)
                cfg.attributes["connection"] = sync_conn
                if action == "upgrade":
                    command.upgrade(cfg, revision)
                else:
                    command.downgrade(cfg, revision)

            await conn.run_sync(go)
            await conn.commit()
    finally:
        await db.dispose()


async def upgrade_async(url: str, revision: str = "head") -> None:
    await _with_connection(url, "upgrade", revision)


async def downgrade_async(url: str, revision: str) -> None:
    await _with_connection(url, "downgrade", revision)


def upgrade(url: str, revision: str = "head") -> None:
    asyncio.run(upgrade_async(url, revision))


def downgrade(url: str, revision: str) -> None:
    asyncio.run(downgrade_async(url, revision))


async def current_state(url: str) -> SchemaState:
    db = Database(url)
    try:
        async with db.engine.connect() as conn:
            current = await conn.run_sync(
                lambda c: MigrationContext.configure(c).get_current_revision()
            )
    finally:
        await db.dispose()
    return SchemaState(current=current, head=head_revision())


async def schema_behind(db: Database) -> str | None:
    """For readiness: "migrations_behind" when the database is not at the code's head
    (a newer replica migrated it, or someone downgraded it), else None. A database no
    migration ever ran on (``create_all`` in tests) has no revision and is not judged:
    the service's start-up check refuses such a database in a deployment."""
    async with db.engine.connect() as conn:
        current = await conn.run_sync(
            lambda c: MigrationContext.configure(c).get_current_revision()
        )
    return None if current in (None, head_revision()) else "migrations_behind"


async def check_current_async(url: str) -> SchemaState:
    """Raise MigrationNeeded unless the database is at the packaged head revision."""
    state = await current_state(url)
    if not state.up_to_date:
        found = state.current or "no schema"
        raise MigrationNeeded(
            f"database is at {found}, the code needs {state.head}: run `medscribe notes migrate`"
        )
    return state


def check_current(url: str) -> SchemaState:
    return asyncio.run(check_current_async(url))
