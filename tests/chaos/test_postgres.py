"""The notes service runs on PostgreSQL, and its database connections are cut
(pg_terminate_backend) at random moments: while turns are stored, and while notes are
written. Every visit must still reach an exact note."""

from __future__ import annotations

import asyncio
import random
import time
from pathlib import Path

import asyncpg  # type: ignore[import-untyped]
import pytest

from shared.acibench import Dialogue
from shared.contracts import StreamNames
from tests.chaos.harness import ChaosStack, pick_dialogues
from tests.chaos.report import Row

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.timeout(180)]

TURNS = 12
STORM_S = 2.0
SEED = 5


async def drop_connections(plain_url: str, db: str) -> int:
    """Terminate every session on ``db`` except our own; returns how many."""
    conn = await asyncpg.connect(plain_url)
    try:
        rows = await conn.fetch(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = $1 AND pid <> pg_backend_pid()",
            db,
        )
        return len(rows)
    finally:
        await conn.close()


async def test_postgres_connections_dropped(
    tmp_path: Path,
    redis_url: str,
    names: StreamNames,
    postgres_url: str,
    aci_dialogues: list[Dialogue],
    row: Row,
) -> None:
    rng = random.Random(SEED)
    db_name = postgres_url.rsplit("/", 1)[1]
    plain = postgres_url.replace("+asyncpg", "")
    url = postgres_url.replace("postgresql://", "postgresql+asyncpg://", 1)
    s = ChaosStack(tmp_path, redis_url, names, url)
    async with s:
        for i, d in enumerate(pick_dialogues(aci_dialogues, 3, TURNS, offset=16)):
            await s.play(s.visit(d, f"room-{i}"))
        await s.encounter_ids()
        dropped = 0
        await asyncio.sleep(rng.uniform(0.3, 1.0))
        storm_end = time.monotonic() + STORM_S
        while time.monotonic() < storm_end:  # while turns arrive: cut, again and again
            dropped += await drop_connections(plain, db_name)
            await asyncio.sleep(rng.uniform(0.05, 0.3))
        row.recovery_s.append(await s.api_answers() or float("nan"))
        for v in s.visits:
            assert await s.finish(v) == 0
        await asyncio.sleep(rng.uniform(0.0, 0.5))  # notes fall due about now
        dropped += await drop_connections(plain, db_name)
        outcomes = await s.wait_outcomes()
        await s.check(row, outcomes)
        assert dropped > 0, "no connection of the notes service was ever cut"
        assert not s.unexpected_exits(), s.unexpected_exits()
    s.assert_no_phi_in_logs()
