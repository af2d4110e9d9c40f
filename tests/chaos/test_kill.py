"""kill -9 of each service at random moments while visits run, two bridges and two editors
(one of each killed), notes on SQLite; every visit must still become an exact note."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

import pytest

from shared.acibench import Dialogue
from shared.contracts import StreamNames
from tests.chaos.harness import ChaosStack, pick_dialogues
from tests.chaos.report import Row

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

TURNS = 16
SEED = 11


async def test_kill_each_service(
    tmp_path: Path, redis_url: str, names: StreamNames, aci_dialogues: list[Dialogue], row: Row
) -> None:
    rng = random.Random(SEED)
    db = f"sqlite+aiosqlite:///{tmp_path / 'notes.db'}"
    s = ChaosStack(tmp_path, redis_url, names, db, bridges=2, editors=2)
    async with s:
        visits = [
            s.visit(d, f"room-{i}") for i, d in enumerate(pick_dialogues(aci_dialogues, 4, TURNS))
        ]
        for v in visits:
            await s.play(v)
        await s.encounter_ids()
        await asyncio.sleep(rng.uniform(0.5, 1.5))
        await s.kill_capture(visits[0])
        assert await s.flush_capture(visits[0]) == 0  # the agent's next start
        await asyncio.sleep(rng.uniform(0.2, 0.8))
        s.kill("bridge-1")
        s.measure(row, s.growth_after(names.turns))
        await asyncio.sleep(rng.uniform(0.2, 0.8))
        s.kill("editor-1")
        s.measure(row, s.growth_after(names.edited))
        await asyncio.sleep(rng.uniform(0.2, 0.8))
        s.kill("notes")
        s.measure(row, s.wait_api())
        for v in visits[1:]:
            assert await s.finish(v) == 0
        outcomes = await s.wait_outcomes()
        await s.settle_probes()
        await s.check(row, outcomes)
        assert not s.unexpected_exits(), s.unexpected_exits()
        assert len(s.exits) == 3  # the three kills, each restarted
    s.assert_no_phi_in_logs()
