"""Redis stalls mid-visit (the process is paused, as under a long fork or a network
partition): the bridge must recover by itself and the visit's text stay exact."""

from __future__ import annotations

import asyncio
import signal

from shared.acibench import Dialogue
from shared.contracts import EncounterTranscribed, StreamNames, SttSettings
from shared.streams import make_redis
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
from tests.helpers.procs import RedisServer


async def test_redis_paused_mid_visit(
    private_redis: RedisServer,
    names: StreamNames,
    sim: SttSimulator,
    aci_dialogues: list[Dialogue],
) -> None:
    d = aci_dialogues[1]
    d = Dialogue(d.encounter_id, d.turns[:16], "")
    frames = frames_of(script_audio(script_from_dialogue(d)))
    redis = make_redis(private_redis.url)
    settings = bridge_settings(private_redis.url, names, sim.url, lease_ms=1500)
    assert private_redis.proc is not None
    try:
        async with running_bridge(settings):
            await start_encounter(redis, names, "pause-1", SttSettings())
            half = len(frames) // 2
            last = await play_frames(redis, names, "pause-1", frames[:half])
            private_redis.proc.send_signal(signal.SIGSTOP)
            await asyncio.sleep(3.0)  # longer than the lease
            private_redis.proc.send_signal(signal.SIGCONT)
            last = await play_frames(redis, names, "pause-1", frames[half:], first_seq=last + 1)
            await stop_encounter(redis, names, "pause-1", last)
            out = await wait_for_outcome(redis, names, ["pause-1"], timeout=60)
        assert isinstance(out["pause-1"], EncounterTranscribed)
        turns = await turns_of(redis, names, "pause-1")
        assert [t.seq for t in turns] == list(range(len(d.turns)))
        assert [t.text for t in turns] == [t.text for t in d.turns]
    finally:
        if private_redis.proc is not None:
            private_redis.proc.send_signal(signal.SIGCONT)
        await redis.aclose()
