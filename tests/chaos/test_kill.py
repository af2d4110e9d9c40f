"""kill -9 of each service at random moments while visits run, two bridges and two editors
(one of each killed), notes on SQLite; every visit must still become an exact note."""

from __future__ import annotations

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
        # Each kill when the pipeline has carried a random share of the 4 x 16 turns (the
        # capture agent's early, so that its visit is surely still recording).
        at = [rng.randint(2, 8), *sorted(rng.sample(range(10, 2 * TURNS), 3))]
        await s.wait_turns(at[0])
        await s.kill_capture(visits[0])
        assert await s.flush_capture(visits[0]) == 0  # the agent's next start
        await s.wait_turns(at[1])
        s.kill("bridge-1")
        s.measure(row, s.growth_after(names.turns))
        await s.wait_turns(at[2])
        s.kill("editor-1")
        s.measure(row, s.growth_after(names.edited))
        await s.wait_turns(at[3])
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
