from __future__ import annotations

from shared.contracts import StreamNames
from simulators.stt_server import SttSimConfig, start_stt_simulator
from tests.bridge.helpers import (
    bridge_settings,
    play_encounter,
    running_bridge,
    script_audio,
    script_turns,
    turns_of,
    wait_for_outcome,
)


async def test_smoke(redis, redis_url: str, names: StreamNames) -> None:
    script = script_turns([("doctor", "Hello, how are you today?"), ("patient", "Not bad. My knee hurts.")])
    sim = await start_stt_simulator(SttSimConfig(time_scale=20.0))
    try:
        async with running_bridge(bridge_settings(redis_url, names, sim.url)):
            await play_encounter(redis, names, "enc-1", script_audio(script))
            out = await wait_for_outcome(redis, names, ["enc-1"])
        print(out)
        turns = await turns_of(redis, names, "enc-1")
        print(turns)
        assert [t.text for t in turns] == [t.text for t in script]
    finally:
        await sim.close()
