"""`medscribe notes backup` / `restore` as documented: a restored copy serves the same record.

Both commands run as real subprocesses on SQLite and PostgreSQL; the restored database is
fresh (another file, another PostgreSQL database) and the staff API on it must answer
exactly as on the original: encounters, notes, version history, transcripts, audit rows.
"""

from __future__ import annotations

import stat
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from services.notes.api.app import create_app
from services.notes.backup import BackupError, _run
from services.notes.db.engine import Database
from services.notes.db.migrate import upgrade_async
from services.notes.db.models import AuditEntry
from shared.contracts import StreamNames
from tests.api.seeding import add_encounter, add_role_tokens, bearer
from tests.helpers.procs import medscribe_cmd, subprocess_env
from tests.kit.api import make_settings

EDIT = {
    "sections": {
        "subjective": ["Cough for two weeks."],
        "objective": ["Clear lungs."],
        "assessment": ["Viral cough."],
        "plan": ["Fluids, return if worse."],
    }
}


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_pair(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, str]:
    """Two databases: the clinic's, and an empty one to restore into."""
    if request.param == "sqlite":
        return (
            f"sqlite+aiosqlite:///{tmp_path / 'clinic.db'}",
            f"sqlite+aiosqlite:///{tmp_path / 'restored' / 'clinic.db'}",
        )
    make: Callable[[], str] = request.getfixturevalue("postgres_factory")
    return make(), make()


def notes(*args: str, database_url: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*medscribe_cmd(), "notes", *args],
        env=subprocess_env(MEDSCRIBE_DATABASE_URL=database_url),
        capture_output=True,
        text=True,
        timeout=120,
    )


async def snapshot(
    db_url: str,
    redis_url: str,
    names: StreamNames,
    redis: Any,
    tmp: Path,
    tokens: dict[str, str],
    ids: list[str],
) -> dict[str, Any]:
    """What the API serves for these encounters, and every audit row (read first)."""
    db = Database(db_url)
    try:
        async with db.session() as s:
            audit = [
                (a.id, a.at, a.actor, a.role, a.action, a.encounter_id, a.target, a.status)
                for a in (await s.execute(select(AuditEntry).order_by(AuditEntry.id))).scalars()
            ]
        app = create_app(make_settings(db_url, redis_url, names, tmp), db, redis)
        transport = httpx.ASGITransport(app=app, client=("10.0.0.9", 40000))
        out: dict[str, Any] = {"audit": audit}
        async with httpx.AsyncClient(transport=transport, base_url="http://api.test") as c:
            for eid in ids:
                for part in ("", "/note", "/note/versions", "/transcript"):
                    r = await c.get(f"/v1/encounters/{eid}{part}", headers=bearer(tokens["clin-a"]))
                    assert r.status_code == 200, (part, r.status_code)
                    out[eid + part] = r.json()
        return out
    finally:
        await db.dispose()


async def test_backup_restores_into_a_fresh_database_with_the_same_record(
    db_pair: tuple[str, str], redis_url: str, names: StreamNames, redis: Any, tmp_path: Path
) -> None:
    src_url, dst_url = db_pair
    await upgrade_async(src_url)
    db = Database(src_url)
    tokens = await add_role_tokens(db)
    signed = await add_encounter(db, clinician="dr-a")
    draft = await add_encounter(db, clinician="dr-a", status="needs_review")
    app = create_app(make_settings(src_url, redis_url, names, tmp_path / "ex"), db, redis)
    transport = httpx.ASGITransport(app=app, client=("10.0.0.9", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://api.test") as c:
        who = bearer(tokens["clin-a"])
        note = f"/v1/encounters/{signed.encounter_id}/note"
        edited = await c.put(note, json=EDIT, headers={**who, "If-Match": '"v1"'})
        assert edited.status_code == 200, edited.text
        sign = await c.post(note + "/sign", headers={**who, "If-Match": '"v2"'})
        assert sign.status_code == 200, sign.text
    await db.dispose()
    dump = tmp_path / "medscribe.backup"
    made = notes("backup", str(dump), database_url=src_url)
    assert made.returncode == 0, made.stderr
    assert stat.S_IMODE(dump.stat().st_mode) == 0o600  # every transcript is in it
    # Reads are audited: the snapshot (audit rows first) is what the backup holds.
    ids = [signed.encounter_id, draft.encounter_id]
    before = await snapshot(src_url, redis_url, names, redis, tmp_path / "ex", tokens, ids)
    assert len(before["audit"]) >= 2
    assert [v["version"] for v in before[signed.encounter_id + "/note/versions"]["versions"]] == [
        1,
        2,
    ]

    again = notes("backup", str(dump), database_url=src_url)
    assert again.returncode == 2
    assert "--overwrite" in again.stderr

    unconfirmed = notes("restore", str(dump), database_url=dst_url)
    assert unconfirmed.returncode == 2
    assert "--yes" in unconfirmed.stderr
    restored = notes("restore", str(dump), "--yes", database_url=dst_url)
    assert restored.returncode == 0, restored.stderr

    after = await snapshot(dst_url, redis_url, names, redis, tmp_path / "ex2", tokens, ids)
    assert after == before


def test_restore_of_a_file_that_is_no_backup_says_so_and_keeps_the_database(
    db_pair: tuple[str, str], tmp_path: Path
) -> None:
    _, dst_url = db_pair
    migrated = notes("migrate", database_url=dst_url)
    assert migrated.returncode == 0, migrated.stderr
    junk = tmp_path / "junk.backup"
    junk.write_bytes(b"this is not a database backup\n" * 50)
    bad = notes("restore", str(junk), "--yes", database_url=dst_url)
    assert bad.returncode == 2
    assert "Traceback" not in bad.stderr
    assert bad.stderr.strip().count("\n") == 0, bad.stderr  # one clear line
    status = notes("migrate", "status", database_url=dst_url)
    assert status.returncode == 0, status.stderr
    current, _, head = status.stdout.split()[1:4]
    assert current == head  # the schema (and so the database) is untouched
    missing = notes("restore", str(tmp_path / "nope.backup"), "--yes", database_url=dst_url)
    assert missing.returncode == 2
    assert "no backup file" in missing.stderr


def test_a_failing_tools_own_words_reach_the_operator_but_not_the_message() -> None:
    # pg_restore's last line can be a COPY error's CONTEXT, which quotes the row: the
    # message (a MedscribeError, so logged) names the tool and its exit code only.
    line = 'CONTEXT:  COPY turns, line 1, column text: "words said in the visit"'
    tool = [sys.executable, "-c", f"import sys; sys.stderr.write({line!r}); sys.exit(3)"]
    with pytest.raises(BackupError) as caught:
        _run(tool, {})
    assert str(caught.value) == f"{Path(sys.executable).name} failed (exit 3)"
    assert caught.value.for_operator() == f"{caught.value}: {line}"
