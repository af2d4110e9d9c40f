"""Redis Cluster, for real: 3 primaries + 3 replicas on loopback, one set of services per
clinic, each clinic's keys under its own hash tag. Two clinics' visits run at once and each
comes out word for word. The primary holding one clinic's slot is killed -9 mid-visit and
its replica promoted: once with the capture agent's newest frames removed by hand from the
promoted replica, once with a real replication loss (the replica cut off for a moment while
every service writes). Each visit still comes out word for word, nothing lost or doubled."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path
from typing import Any

import pytest

from shared.acibench import Dialogue
from shared.contracts import StreamNames
from shared.streams import make_redis
from tests.chaos.harness import ChaosStack, pick_dialogues
from tests.chaos.report import Row
from tests.cluster.procs import RedisClusterProcs
from tests.kit.cluster import clinic_prefix

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

TURNS = 10


def sqlite(tmp: Path, clinic: str) -> str:
    return f"sqlite+aiosqlite:///{tmp / f'{clinic}.db'}"


async def run_visit(s: ChaosStack, d: Dialogue, room: str) -> None:
    v = s.visit(d, room)
    await s.play(v)
    assert await s.finish(v) == 0, v.log.read_text()[-2000:]


async def _all_keys(url: str) -> set[bytes]:
    client: Any = make_redis(url)
    try:
        return {k async for k in client.scan_iter(count=1000)}
    finally:
        await client.aclose()


async def test_two_clinics_at_once_each_exact(
    tmp_path: Path, redis_cluster: RedisClusterProcs, aci_dialogues: list[Dialogue]
) -> None:
    clinics = {c: StreamNames(clinic_prefix(c)) for c in ("clinic-a", "clinic-b")}
    dialogues = pick_dialogues(aci_dialogues, 2, TURNS, offset=3)
    stacks = {
        c: ChaosStack(tmp_path / c, redis_cluster.url, names, sqlite(tmp_path, c))
        for c, names in clinics.items()
    }
    for c in stacks:
        (tmp_path / c).mkdir(exist_ok=True)
    # The session's cluster holds earlier tests' clinics: only keys made from here are ours.
    before = await _all_keys(redis_cluster.url)
    try:
        await asyncio.gather(*(s.start() for s in stacks.values()))
        await asyncio.gather(
            *(
                run_visit(s, d, f"room-{c}")
                for (c, s), d in zip(stacks.items(), dialogues, strict=True)
            )
        )
        for c, s in stacks.items():
            row = Row(f"cluster {c}", c)
            await s.check(row, await s.wait_outcomes())
            assert row.duplicates == 0
            assert row.turns_delivered == TURNS
            assert not s.unexpected_exits(), s.unexpected_exits()
        # Every key the visits made belongs to one clinic's prefix, each clinic's in one slot.
        client: Any = next(iter(stacks.values())).redis
        keys = [k.decode() async for k in client.scan_iter(count=1000) if k not in before]
        for names in clinics.values():
            mine = [k for k in keys if k.startswith(names.prefix)]
            assert mine
            assert len({client.keyslot(k) for k in mine}) == 1
        assert sum(k.startswith(n.prefix) for k in keys for n in clinics.values()) == len(keys)
    finally:
        await asyncio.gather(*(s.close() for s in stacks.values()))
    for s in stacks.values():
        s.assert_no_phi_in_logs()


# What the promoted replica lacks when replication lagged: the newest ``n`` entries of a
# stream, and its last id set back so the lost ids can be written again. (On loopback the
# replica never lags, so the loss is made by hand on the new primary.)
CUT_TAIL = """
local rows = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', tonumber(ARGV[1]) + 1)
if #rows <= tonumber(ARGV[1]) then return 0 end
for i = 1, #rows - 1 do redis.call('XDEL', KEYS[1], rows[i][1]) end
redis.call('XSETID', KEYS[1], rows[#rows][1])
return #rows - 1
"""
LOST_FRAMES = 40


async def test_primary_killed_mid_visit_replica_promoted_visit_exact(
    tmp_path: Path, redis_cluster: RedisClusterProcs, aci_dialogues: list[Dialogue]
) -> None:
    names = StreamNames(clinic_prefix("clinic-f"))
    [d] = pick_dialogues(aci_dialogues, 1, TURNS * 2, offset=7)
    s = ChaosStack(tmp_path, redis_cluster.url, names, sqlite(tmp_path, "clinic-f"))
    row = Row("cluster failover", "failover")
    async with s:
        v = s.visit(d, "room-f")
        await s.play(v, speed=4.0)  # slower than the services: the visit outlasts the failover
        await s.encounter_ids()
        assert v.encounter_id is not None
        await s.wait_turns(4)  # mid-visit, keyed to progress rather than the clock
        assert v.proc is not None
        assert v.proc.returncode is None, "visit ended too early"
        # Frozen so that its acknowledged frames are the newest writes when the primary dies.
        os.kill(v.proc.pid, signal.SIGSTOP)
        try:
            primary = redis_cluster.primary_of(names.control)
            redis_cluster.kill(primary)
            promoted = await asyncio.to_thread(redis_cluster.wait_promoted, primary, names.control)
            assert promoted != primary
            # What the replica had not received yet is gone: frames capture was told are in.
            cut = await s.redis.eval(CUT_TAIL, 1, names.audio(v.encounter_id), LOST_FRAMES)
            assert cut == LOST_FRAMES
        finally:
            os.kill(v.proc.pid, signal.SIGCONT)
        assert await s.finish(v) == 0, v.log.read_text()[-2000:]
        assert await s.audio_turns(v) == v.want  # every frame in Redis once, in order
        await s.check(row, await s.wait_outcomes())  # turns: each once, in order
        assert row.duplicates == 0
        assert row.turns_delivered == TURNS * 2
        assert "audio_resent_after_redis_loss" in v.log.read_text()
    s.assert_no_phi_in_logs()


CUT_S = 0.4  # writes the replica misses: well under the node timeout, so it stays eligible


async def test_primary_dies_with_unreplicated_writes_visit_exact(
    tmp_path: Path, redis_cluster: RedisClusterProcs, aci_dialogues: list[Dialogue]
) -> None:
    """A real asynchronous-replication loss: the replica's link is cut for a moment while
    every service writes, then the primary dies and that replica is promoted without the
    writes all of them were told had succeeded (audio, turns, edited turns, acks, state)."""
    names = StreamNames(clinic_prefix("clinic-l"))
    [d] = pick_dialogues(aci_dialogues, 1, TURNS * 2, offset=11)
    s = ChaosStack(tmp_path, redis_cluster.url, names, sqlite(tmp_path, "clinic-l"))
    row = Row("cluster unreplicated loss", "loss")
    async with s:
        v = s.visit(d, "room-l")
        await s.play(v, speed=4.0)
        await s.encounter_ids()
        await s.wait_turns(4)
        primary = redis_cluster.primary_of(names.control)
        replica = redis_cluster.replica_of(primary)
        applied = redis_cluster.cut_replication(replica)
        try:
            await asyncio.sleep(CUT_S)
            acknowledged = redis_cluster.repl_offset(primary)
            redis_cluster.kill(primary)
        finally:
            redis_cluster.thaw(replica)
        assert acknowledged > applied, "no write was left unreplicated"
        promoted = await asyncio.to_thread(redis_cluster.wait_promoted, primary, names.control)
        assert promoted == replica
        assert await s.finish(v) == 0, v.log.read_text()[-2000:]
        assert await s.audio_turns(v) == v.want  # every frame in Redis once, in order
        await s.check(row, await s.wait_outcomes())
        assert row.duplicates == 0
        assert row.turns_delivered == TURNS * 2
    s.assert_no_phi_in_logs()


async def test_partitioned_primary_rejoins_as_replica_visit_exact(
    tmp_path: Path, redis_cluster: RedisClusterProcs, aci_dialogues: list[Dialogue]
) -> None:
    """The primary holding the clinic's slot is cut off, not dead: SIGSTOP until its replica
    is promoted, then SIGCONT. Every service's commands sent meanwhile wait in its socket;
    woken, the old primary learns it lost the slot, turns replica and drops what it took in
    the meantime. The visit still comes out word for word, nothing lost or doubled."""
    names = StreamNames(clinic_prefix("clinic-p"))
    [d] = pick_dialogues(aci_dialogues, 1, TURNS * 2, offset=13)
    s = ChaosStack(tmp_path, redis_cluster.url, names, sqlite(tmp_path, "clinic-p"))
    row = Row("cluster partitioned primary", "partition")
    async with s:
        v = s.visit(d, "room-p")
        # At 4x the visit often ends while the thawed old primary still answers: it takes the
        # last frames and the stop, then turns replica and drops them. The stop's WAIT finds
        # no replica, so the writer keeps checking and re-sends (services/capture/publisher.py).
        await s.play(v, speed=4.0)
        await s.encounter_ids()
        await s.wait_turns(4)
        assert v.proc is not None
        assert v.proc.returncode is None, "visit ended too early"
        primary = redis_cluster.primary_of(names.control)
        redis_cluster.freeze(primary)
        try:
            promoted = await asyncio.to_thread(redis_cluster.wait_promoted, primary, names.control)
            assert promoted != primary
        finally:
            redis_cluster.thaw(primary)
        await asyncio.to_thread(redis_cluster.wait_role, primary, "slave")
        assert await s.finish(v) == 0, v.log.read_text()[-2000:]
        assert await s.audio_turns(v) == v.want  # every frame in Redis once, in order
        await s.check(row, await s.wait_outcomes())
        assert row.duplicates == 0
        assert row.turns_delivered == TURNS * 2
        assert not s.unexpected_exits(), s.unexpected_exits()
    s.assert_no_phi_in_logs()
