"""Redis (a private redis-server with AOF) is killed -9 and restarted mid-visit while three
visits stream; a fourth room loses its network path to Redis for 30 s (a TCP proxy cut)
and keeps recording into its spool. Every visit must come out word for word."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from shared.acibench import Dialogue
from shared.contracts import StreamNames
from tests.chaos.harness import ChaosStack, pick_dialogues, short
from tests.chaos.netproxy import CuttableProxy
from tests.chaos.report import Row
from tests.helpers.procs import RedisServer, redis_server_binary

pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(240),
    pytest.mark.skipif(redis_server_binary() is None, reason="needs redis-server"),
]

TURNS = 16
PARTITION_S = 30.0  # the "Redis unreachable from the capture agent for 30 s"
REDIS_DOWN_S = 1.0


async def test_redis_restart_and_room_partition(
    tmp_path: Path, names: StreamNames, aci_dialogues: list[Dialogue], row: Row
) -> None:
    server = RedisServer(tmp_path / "redis", appendonly=True)
    server.start()
    proxy = CuttableProxy("127.0.0.1", server.port)
    await proxy.start()
    db = f"sqlite+aiosqlite:///{tmp_path / 'notes.db'}"
    s = ChaosStack(tmp_path, server.url, names, db)
    try:
        async with s:
            dialogues = pick_dialogues(aci_dialogues, 4, TURNS, offset=12)
            direct = [s.visit(d, f"room-{i}") for i, d in enumerate(dialogues[:3])]
            # 8 turns in real time: it ends during the cut and waits for the path to return.
            far = s.visit(short(dialogues[3], 8), "room-far")
            # The far room records in real time, so it keeps recording through the cut.
            await s.play(far, speed=1.0, redis_url=proxy.url())
            for v in direct:
                await s.play(v)
            await s.encounter_ids()
            proxy.cut()
            await s.wait_turns(TURNS)  # about a third of the direct visits' turns are out
            server.kill()
            await asyncio.sleep(REDIS_DOWN_S)
            server.start()
            row.recovery_s.append(await s.growth_after(names.turns) or float("nan"))
            for v in direct:
                assert await s.finish(v) == 0
            await asyncio.sleep(max(0.0, PARTITION_S - REDIS_DOWN_S - 1.0))
            proxy.heal()
            heal = s.measure(row, s.growth_after(names.audio(far.encounter_id or "")))
            code = await s.finish(far, timeout=90)
            if code == 75:  # ended while offline and the grace ran out: its next start sends it
                code = await s.flush_capture(far, proxy.url())
            assert code == 0
            await heal
            outcomes = await s.wait_outcomes()
            await s.check(row, outcomes)
            assert not s.unexpected_exits(), s.unexpected_exits()
        s.assert_no_phi_in_logs(extra=[tmp_path / "redis" / "redis.log"])
    finally:
        await proxy.close()
        server.stop()
