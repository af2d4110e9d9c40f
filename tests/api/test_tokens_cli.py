"""`medscribe notes token create|list|revoke` as real subprocesses on a migrated database,
and the tokens it makes used against the real app."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from services.notes.api.app import create_app
from services.notes.auth import hash_token, looks_like_token
from services.notes.db.engine import Database
from services.notes.db.migrate import upgrade_async
from services.notes.db.models import ApiToken, AuditEntry
from shared.contracts import StreamNames
from tests.api.seeding import add_encounter, bearer
from tests.helpers.procs import medscribe_cmd, subprocess_env
from tests.kit.api import make_settings


def notes_cli(db_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*medscribe_cmd(), "notes", *args],
        env=subprocess_env(MEDSCRIBE_DATABASE_URL=db_url),
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
async def migrated(tmp_path: Path) -> str:
    """A database as `medscribe notes migrate` leaves it (Alembic, in-process: faster)."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
    await upgrade_async(url)
    return url


async def test_create_list_revoke_and_use(
    migrated: str, tmp_path: Path, redis: Any, redis_url: str, names: StreamNames
) -> None:
    made = notes_cli(migrated, "token", "create", "--name", "dr-lee", "--role", "clinician",
                     "--clinician", "dr-a")  # fmt: skip
    assert made.returncode == 0, made.stderr
    secret = made.stdout.strip()
    assert looks_like_token(secret)  # stdout is the secret alone, for scripts
    assert "shown only once" in made.stderr
    assert "created token 'dr-lee' (id 1, role clinician, clinician dr-a)" in made.stderr

    listed = notes_cli(migrated, "token", "list")
    assert listed.returncode == 0
    assert "dr-lee" in listed.stdout
    assert "active" in listed.stdout
    assert secret not in listed.stdout + listed.stderr

    db = Database(migrated)
    try:
        async with db.session() as s:
            row = await s.scalar(select(ApiToken).where(ApiToken.name == "dr-lee"))
            assert row is not None
            assert row.token_hash == hash_token(secret)  # stored hashed, never in clear
        app = create_app(make_settings(migrated, redis_url, names, tmp_path / "x"), db, redis)
        mine = await add_encounter(db, clinician="dr-a")
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            ok = await client.get(f"/v1/encounters/{mine.encounter_id}", headers=bearer(secret))
            assert ok.status_code == 200
            revoked = notes_cli(migrated, "token", "revoke", "dr-lee")
            assert revoked.returncode == 0, revoked.stderr
            assert "revoked token 'dr-lee' (id 1)" in revoked.stdout
            after = await client.get(f"/v1/encounters/{mine.encounter_id}", headers=bearer(secret))
            assert after.status_code == 401
        async with db.session() as s:
            actions = (
                await s.scalars(select(AuditEntry.action).where(AuditEntry.actor == "cli"))
            ).all()
        assert list(actions) == ["token.create", "token.revoke"]
    finally:
        await db.dispose()
    again = notes_cli(migrated, "token", "revoke", "1")
    assert again.returncode == 2
    assert "already revoked" in again.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--name", "x", "--role", "root"], "role must be one of: clinician, staff, admin"),
        (["--name", "x", "--role", "clinician"], "needs --clinician"),
    ],
)
def test_create_refuses_bad_input(migrated: str, args: list[str], message: str) -> None:
    done = notes_cli(migrated, "token", "create", *args)
    assert done.returncode == 2
    assert message in done.stderr
    assert "Traceback" not in done.stderr
    assert done.stdout == ""


def test_duplicate_name_unknown_token_and_no_tables(migrated: str, tmp_path: Path) -> None:
    assert notes_cli(migrated, "token", "create", "--name", "a", "--role", "admin").returncode == 0
    dup = notes_cli(migrated, "token", "create", "--name", "a", "--role", "staff")
    assert dup.returncode == 2
    assert "a token named 'a' exists" in dup.stderr
    missing = notes_cli(migrated, "token", "revoke", "nobody")
    assert missing.returncode == 2
    assert "no token named or numbered 'nobody'" in missing.stderr
    pasted = "ms_" + "x" * 43  # a token's secret given for its name: never echoed
    secret = notes_cli(migrated, "token", "revoke", pasted)
    assert secret.returncode == 2
    assert "no token has that name or number" in secret.stderr
    assert pasted not in secret.stderr
    empty = notes_cli(f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}", "token", "list")
    assert empty.returncode == 2
    assert "run `medscribe notes migrate`" in empty.stderr
