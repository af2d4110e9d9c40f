"""Redis loses the bridge's newest writes, as a failover to a replica that had not received
them does (asynchronous replication): the last published turns vanish from ``ms:turns`` and
the encounter state goes back to before them, while the bridge keeps its session.

The bridge must put back what was lost and go on in the same STT session: the visit ends
exact, nothing re-transcribed (a second pass is billed, and may cut turns differently from
those notes already stored)."""

from __future__ import annotations

import asyncio
from typing import Any

import redis.asyncio as aioredis

from shared.acibench import Dialogue
from shared.contracts import EncounterTranscribed, StreamNames, SttSettings
from simulators.codec import script_from_dialogue
from simulators.stt_server import SttSimulator
from tests.bridge.helpers import (
    bridge_settings,
    frames_of,
    play_frames,
    running_bridge,
    script_audio,
    start_encounter,
    stop_encounter,
    turns_of,
    wait_for_outcome,
)

SCALE = 40.0
# What a lagging replica lacks after the failover: the turns after the snapshot, and the
# state as it was then (one atomic step, as the promotion is for the clients).
_LOSE = """
local rows = redis.call('XRANGE', KEYS[2], '(' .. ARGV[1], '+')
for _, row in ipairs(rows) do redis.call('XDEL', KEYS[2], row[1]) end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], unpack(ARGV, 2))
return #rows
"""


async def _snapshot(redis: aioredis.Redis, names: StreamNames, eid: str) -> tuple[str, list[Any]]:
    async with redis.pipeline(transaction=True) as pipe:
        pipe.hgetall(names.bridge_state(eid))
        pipe.xrevrange(names.turns, count=1)
        state, top = await pipe.execute()
    flat: list[Any] = []
    for k, v in state.items():
        flat += [k, v]
    return top[0][0].decode(), flat


async def _lose_since(
    redis: aioredis.Redis, names: StreamNames, eid: str, snap: tuple[str, list[Any]]
) -> int:
    last_id, state = snap
    lost: Any = await redis.eval(_LOSE, 2, names.bridge_state(eid), names.turns, last_id, *state)
    return int(lost)


async def _turn_count(redis: aioredis.Redis, names: StreamNames, eid: str, n: int) -> None:
    async def reached() -> None:
        while len(await turns_of(redis, names, eid)) < n:
            await asyncio.sleep(0.05)

    await asyncio.wait_for(reached(), 60)


def _dialogue(aci_dialogues: list[Dialogue]) -> tuple[Dialogue, list[bytes]]:
    d = aci_dialogues[1]
    d = Dialogue(d.encounter_id, d.turns[:10], "")
    return d, frames_of(script_audio(script_from_dialogue(d)))


def _frames_for(d: Dialogue, turns: int) -> int:
    """How many of the visit's frames carry its first ``turns`` turns (the codec writes
    turn after turn, so their audio is a prefix of the whole)."""
    head = Dialogue(d.encounter_id, d.turns[:turns], "")
    return len(frames_of(script_audio(script_from_dialogue(head))))


async def _check(redis: aioredis.Redis, names: StreamNames, eid: str, d: Dialogue) -> None:
    out = await wait_for_outcome(redis, names, [eid], timeout=90)
    done = out[eid]
    assert isinstance(done, EncounterTranscribed), done
    turns = await turns_of(redis, names, eid)
    assert [t.seq for t in turns] == list(range(len(d.turns)))
    assert [t.text for t in turns] == [t.text for t in d.turns]
    assert done.turn_count == len(d.turns)
    # Put back, not re-transcribed: the one STT session carried the whole visit.
    assert len(done.stt_sessions) == 1, [s.session_id for s in done.stt_sessions]


async def test_turns_lost_mid_visit_are_put_back(
    redis: aioredis.Redis,
    redis_url: str,
    names: StreamNames,
    sim: SttSimulator,
    aci_dialogues: list[Dialogue],
) -> None:
    sim.config.time_scale = SCALE
    d, frames = _dialogue(aci_dialogues)
    settings = bridge_settings(redis_url, names, sim.url, pace_factor=SCALE)
    async with running_bridge(settings) as bridge:
        await start_encounter(redis, names, "loss-1", SttSettings())
        head = _frames_for(d, 3)
        last = await play_frames(redis, names, "loss-1", frames[:head], pace_factor=SCALE)
        await _turn_count(redis, names, "loss-1", 3)
        snap = await _snapshot(redis, names, "loss-1")  # no audio of a 4th turn yet
        player = asyncio.create_task(
            play_frames(redis, names, "loss-1", frames[head:], pace_factor=SCALE,
                        first_seq=last + 1)
        )  # fmt: skip
        await _turn_count(redis, names, "loss-1", 5)
        assert await _lose_since(redis, names, "loss-1", snap) >= 2
        last = await player
        await stop_encounter(redis, names, "loss-1", last)
        await _check(redis, names, "loss-1", d)
        assert bridge.metrics.state_restored._value.get() >= 1


async def test_turns_lost_before_the_outcome_are_put_back(
    redis: aioredis.Redis,
    redis_url: str,
    names: StreamNames,
    sim: SttSimulator,
    aci_dialogues: list[Dialogue],
) -> None:
    """The loss comes after the last turn: nothing more is published to notice it, so the
    bridge must check before it declares the visit transcribed."""
    sim.config.time_scale = SCALE
    d, frames = _dialogue(aci_dialogues)
    settings = bridge_settings(redis_url, names, sim.url, pace_factor=SCALE)
    async with running_bridge(settings):
        await start_encounter(redis, names, "loss-2", SttSettings())
        head = _frames_for(d, len(d.turns) - 2)
        last = await play_frames(redis, names, "loss-2", frames[:head], pace_factor=SCALE)
        await _turn_count(redis, names, "loss-2", len(d.turns) - 2)
        snap = await _snapshot(redis, names, "loss-2")
        last = await play_frames(
            redis, names, "loss-2", frames[head:], pace_factor=SCALE, first_seq=last + 1
        )
        await _turn_count(redis, names, "loss-2", len(d.turns))
        assert await _lose_since(redis, names, "loss-2", snap) == 2
        await stop_encounter(redis, names, "loss-2", last)
        await _check(redis, names, "loss-2", d)
