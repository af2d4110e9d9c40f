"""Soak (only with `--soak`): waves of visits on two bridges and two editors while a chaos
monkey kill -9s a random service or capture agent at random moments, the STT simulator
drops connections and the LLM gateway fails a share of requests. The seed is printed;
CHAOS_SEED=<n> replays a run's choices (timing still varies)."""

from __future__ import annotations

import asyncio
import os
import random
import time
from pathlib import Path

import pytest

from shared.acibench import Dialogue
from shared.contracts import StreamNames
from simulators.llm_server import LlmSimConfig
from simulators.stt_server import SttSimConfig
from tests.chaos.harness import SCALE, ChaosStack, Visit, pick_dialogues
from tests.chaos.report import Row

pytestmark = [pytest.mark.soak, pytest.mark.slow, pytest.mark.timeout(1800)]

WAVES = 4
PER_WAVE = 5
TURNS = 24
SERVICES = ("bridge-1", "bridge-2", "editor-1", "editor-2", "notes")


async def test_soak(
    tmp_path: Path, redis_url: str, names: StreamNames, aci_dialogues: list[Dialogue], row: Row
) -> None:
    seed = int(os.environ.get("CHAOS_SEED", str(int(time.time()))))
    print(f"chaos soak seed {seed}")
    rng = random.Random(seed)
    db = f"sqlite+aiosqlite:///{tmp_path / 'notes.db'}"
    stt = SttSimConfig(time_scale=SCALE, drop_every_s=25.0)
    llm = LlmSimConfig(error_rate=0.1, seed=seed)
    s = ChaosStack(tmp_path, redis_url, names, db, bridges=2, editors=2, stt_config=stt,
                   llm_config=llm)  # fmt: skip
    dialogues = pick_dialogues(aci_dialogues, WAVES * PER_WAVE, TURNS)
    async with s:
        running: list[Visit] = []
        done = asyncio.Event()

        async def monkey() -> None:
            while not done.is_set():
                await asyncio.sleep(rng.uniform(0.5, 2.5))
                live = [v for v in running if v.proc and v.proc.returncode is None]
                if live and rng.random() < 0.2:
                    v = rng.choice(live)
                    await s.kill_capture(v)
                    assert await s.flush_capture(v) == 0
                    continue
                name = rng.choice(SERVICES)
                if s.sup.get(name).running:
                    s.kill(name)
                    probe = s.api_answers() if name == "notes" else s.growth_after(names.edited)
                    s.measure(row, probe)

        chaos = asyncio.create_task(monkey())
        try:
            for w in range(WAVES):
                batch = dialogues[w * PER_WAVE : (w + 1) * PER_WAVE]
                wave = [s.visit(d, f"room-{w}-{i}") for i, d in enumerate(batch)]
                for v in wave:
                    await s.play(v)
                    await asyncio.sleep(rng.uniform(0.0, 0.5))
                running += wave
                for v in wave:
                    code = await s.finish(v, timeout=300)
                    assert code == 0 or v.cut_short, (v.room, code)
        finally:
            done.set()
            await chaos
        outcomes = await s.wait_outcomes(timeout=300)
        await s.check(row, outcomes)
        assert not s.unexpected_exits(), s.unexpected_exits()
    s.assert_no_phi_in_logs()
