"""Issue 20 item 6: patient data on disk is owner-only (SQLite + WAL, the audio spool)."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from services.capture.spool import KIND_CONTROL, KIND_FRAME, EncounterSpool
from services.notes.db.engine import Database
from tests.api.seeding import add_encounter


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(autouse=True)
def common_umask() -> Iterator[None]:
    """The usual 022: what would leave files world-readable without explicit modes."""
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def test_spool_files_and_folders_are_owner_only(tmp_path: Path) -> None:
    spool_dir = tmp_path / "a" / "spool"
    spool = EncounterSpool.create(spool_dir, "enc-1", {"encounter_id": "enc-1"})
    spool.append(KIND_FRAME, 0, b"\x01\x02" * 800)
    spool.append(KIND_CONTROL, -1, b"{}")
    spool.confirm(spool.size, durable=True)
    spool.mark_stopped(0)
    spool.close()
    assert {p.name for p in spool.dir.iterdir()} >= {"meta.json", "spool.bin", "flushed", "lock"}
    for path in spool.dir.iterdir():
        assert mode(path) == 0o600, path.name
    for folder in (spool.dir, spool_dir, spool_dir.parent):
        assert mode(folder) == 0o700, folder


def test_an_existing_open_spool_folder_is_tightened(tmp_path: Path) -> None:
    spool_dir = tmp_path / "spool"
    spool_dir.mkdir(mode=0o755)
    os.chmod(spool_dir, 0o755)
    EncounterSpool.create(spool_dir, "enc-2", {"encounter_id": "enc-2"}).close()
    assert mode(spool_dir) == 0o700


async def test_sqlite_database_and_wal_are_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "data" / "notes.db"
    db = Database(f"sqlite+aiosqlite:///{path}")
    try:
        await db.create_all()
        await add_encounter(db)  # writes through the WAL
        wal = path.with_name("notes.db-wal")
        assert wal.exists()
        for file in (path, wal, path.with_name("notes.db-shm")):
            assert mode(file) == 0o600, file.name
        assert mode(path.parent) == 0o700
    finally:
        await db.dispose()


async def test_an_existing_readable_database_is_tightened(tmp_path: Path) -> None:
    path = tmp_path / "notes.db"
    first = Database(f"sqlite+aiosqlite:///{path}")
    await first.create_all()
    await first.dispose()
    os.chmod(path, 0o644)
    again = Database(f"sqlite+aiosqlite:///{path}")
    try:
        await add_encounter(again)
        assert mode(path) == 0o600
        assert mode(path.with_name("notes.db-wal")) == 0o600
    finally:
        await again.dispose()
