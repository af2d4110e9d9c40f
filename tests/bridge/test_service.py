"""The bridge process as operators see it: health, readiness, metrics, control edge cases,
the CLI's configuration errors."""

from __future__ import annotations

import asyncio
import subprocess
from typing import Any

import httpx

from shared.contracts import EncounterTranscribed, StreamNames, SttSettings
from simulators.stt_server import SttSimulator
from tests.bridge.helpers import (
    bridge_settings,
    play_encounter,
    running_bridge,
    script_audio,
    script_turns,
    start_encounter,
    stop_encounter,
    wait_for_outcome,
)
from tests.helpers.procs import free_port, medscribe_cmd, subprocess_env


async def test_health_readiness_and_metrics(
    redis: Any, redis_url: str, names: StreamNames, sim: SttSimulator
) -> None:
    port = free_port()
    sim.config.drop_every_s = 2.5
    settings = bridge_settings(redis_url, names, sim.url, health_port=port)
    script = script_turns([("doctor", "How is the cough?"), ("patient", "Better, thanks.")])
    http = httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}")
    async with running_bridge(settings), http:
        assert (await http.get("/healthz")).status_code == 200
        assert (await http.get("/readyz")).json() == {"status": "ready"}
        await play_encounter(redis, names, "met-1", script_audio(script))
        await wait_for_outcome(redis, names, ["met-1"])
        # The outcome is published before the replica releases the encounter: poll.
        deadline = asyncio.get_running_loop().time() + 30
        while True:
            text = (await http.get("/metrics")).text
            idle = "medscribe_bridge_active_encounters 0.0" in text
            if idle or asyncio.get_running_loop().time() > deadline:
                break
            await asyncio.sleep(0.1)
    assert "medscribe_bridge_turns_published_total 2.0" in text
    assert 'medscribe_bridge_reconnects_total{close_code="1006"}' in text
    assert "medscribe_bridge_active_encounters 0.0" in text
    assert "medscribe_bridge_forward_latency_seconds_count" in text
    assert 'medscribe_bridge_unknown_messages_total{type="SpeechStarted"}' in text  # ignored
    assert "cough" not in text.lower()


async def test_visit_without_audio_and_bad_control_entries(
    redis: Any, redis_url: str, names: StreamNames, sim: SttSimulator
) -> None:
    await redis.xadd(names.control, {"v": "1", "type": "EncounterStarted", "data": "{bad"})
    await redis.xadd(names.control, {"v": "1", "type": "Nonsense", "data": "{}"})
    async with running_bridge(bridge_settings(redis_url, names, sim.url)):
        await start_encounter(redis, names, "empty-1", SttSettings())
        await stop_encounter(redis, names, "empty-1", -1)
        out = await wait_for_outcome(redis, names, ["empty-1"])
    done = out["empty-1"]
    assert isinstance(done, EncounterTranscribed)
    assert done.turn_count == 0
    assert done.audio_ms == 0
    assert await redis.xlen(names.dead) == 2  # bad entries dead-lettered, not blocking


def test_cli_without_key_fails_clearly(names: StreamNames) -> None:
    env = subprocess_env(MEDSCRIBE_STREAM_PREFIX=names.prefix)
    env.pop("ASSEMBLYAI_API_KEY", None)
    env.pop("MEDSCRIBE_ASSEMBLYAI_API_KEY", None)
    proc = subprocess.run(
        [*medscribe_cmd(), "stt-bridge"], env=env, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 2
    assert "ASSEMBLYAI_API_KEY is not set" in proc.stderr
    bad = subprocess.run(
        [*medscribe_cmd(), "stt-bridge"],
        env={**env, "ASSEMBLYAI_API_KEY": "k", "MEDSCRIBE_CHUNK_MS": "20"},
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert bad.returncode == 2
    assert "CHUNK_MS" in bad.stderr


async def test_an_encounter_offered_twice_at_once_is_taken_once(
    redis: Any, redis_url: str, names: StreamNames, sim: SttSimulator
) -> None:
    """The control handler and the orphan scanner may offer the same encounter at the same
    moment; a replica may re-take its own lease, so only the in-process guard prevents a
    second task (the fencing would stop it, but it would open a second session)."""
    from services.stt_bridge.service import Bridge
    from shared.contracts import EncounterStarted
    from shared.streams import make_redis

    client = make_redis(redis_url)
    bridge = Bridge(bridge_settings(redis_url, names, sim.url), client)
    started = EncounterStarted(encounter_id="twice-1", room="r", llm_model="m")
    await bridge.store.register(started)
    taken = await asyncio.gather(*(bridge.take("twice-1") for _ in range(5)))
    assert sum(taken) == 1
    assert list(bridge.tasks) == ["twice-1"]
    await bridge.hand_back()
    await client.aclose()
