"""Several bridge replicas: kill -9 mid-visit, restart, two replicas sharing 20 encounters
with one killed, SIGTERM handing encounters back. Bridges run as real subprocesses (the
simulator stays in the test process)."""

from __future__ import annotations

import asyncio
import signal
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest

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
from tests.helpers.procs import medscribe_cmd, subprocess_env
from tests.kit.waiting import eventually

LABELS = SttSettings(speaker_labels=True)


class Bridges:
    """Start/kill `medscribe stt-bridge` subprocesses; all are killed at teardown."""

    def __init__(self, redis_url: str, names: StreamNames, sim_url: str, pace: float) -> None:
        self.env = subprocess_env(
            MEDSCRIBE_REDIS_URL=redis_url,
            MEDSCRIBE_STREAM_PREFIX=names.prefix,
            MEDSCRIBE_STREAMING_URL=sim_url,
            ASSEMBLYAI_API_KEY="sim-key",
            MEDSCRIBE_PACE_FACTOR=str(pace),
            MEDSCRIBE_LEASE_MS="1500",
            MEDSCRIBE_SCAN_EVERY_S="0.3",
            MEDSCRIBE_BACKOFF_INITIAL_S="0.05",
            MEDSCRIBE_BACKOFF_MAX_S="0.5",
            MEDSCRIBE_LOG_LEVEL="WARNING",
        )
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, name: str) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(
            [*medscribe_cmd(), "stt-bridge", "--consumer", name],
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        self.procs[name] = proc
        return proc

    def close(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.kill()
            proc.wait(10)


@pytest.fixture
def bridges(redis_url: str, names: StreamNames, sim: SttSimulator) -> Iterator[Bridges]:
    b = Bridges(redis_url, names, sim.url, pace=sim.config.time_scale)
    yield b
    b.close()


async def _owned_by(redis: Any, names: StreamNames, consumer: str) -> list[str]:
    owned = []
    for key in await redis.keys(names.key("bridge", "lease", "*")):
        value = await redis.get(key)
        if value is not None and value.decode().startswith(consumer + ":"):
            owned.append(key.decode().rsplit(":", 1)[-1])
    return owned


def _texts_ok(turns: list[Any], d: Dialogue) -> None:
    assert [t.seq for t in turns] == list(range(len(turns)))
    assert [t.text for t in turns] == [t.text for t in d.turns]


async def test_kill_9_mid_visit_and_restart(
    redis: Any,
    names: StreamNames,
    sim: SttSimulator,
    bridges: Bridges,
    aci_dialogues: list[Dialogue],
) -> None:
    d = aci_dialogues[1]
    d = Dialogue(d.encounter_id, d.turns[:24], "")
    frames = frames_of(script_audio(script_from_dialogue(d)))
    half = len(frames) // 2
    first = bridges.start("bridge-a")
    await start_encounter(redis, names, "k9-1", LABELS)
    player = asyncio.create_task(play_frames(redis, names, "k9-1", frames[:half]))

    async def some_turns() -> bool:
        return len(await turns_of(redis, names, "k9-1")) >= 4

    await eventually(some_turns, timeout=60)
    first.send_signal(signal.SIGKILL)
    first.wait(10)
    await player
    # The visit goes on while no bridge runs (by construction, not by a race with a
    # loaded machine): the second half starts only after the kill.
    rest = asyncio.create_task(play_frames(redis, names, "k9-1", frames[half:], first_seq=half))
    bridges.start("bridge-b")
    last = await rest
    await stop_encounter(redis, names, "k9-1", last)
    out = await wait_for_outcome(redis, names, ["k9-1"], timeout=90)
    assert isinstance(out["k9-1"], EncounterTranscribed)
    turns = await turns_of(redis, names, "k9-1")
    _texts_ok(turns, d)
    assert len({t.stt_session_id for t in turns}) >= 2


async def test_two_bridges_share_20_encounters_one_killed(
    redis: Any,
    names: StreamNames,
    sim: SttSimulator,
    bridges: Bridges,
    aci_dialogues: list[Dialogue],
) -> None:
    sim.config.time_scale = 5.0  # 20 visits at 5x: 100 real-time sessions' worth of audio
    bridges.env["MEDSCRIBE_PACE_FACTOR"] = "5.0"
    visits = {}
    for i in range(20):
        src = aci_dialogues[i % len(aci_dialogues)]
        turns = tuple(t for t in src.turns if len(t.text) <= 90)[:5]
        visits[f"many-{i:02d}"] = Dialogue(src.encounter_id, turns, "")
    bridges.start("bridge-a")
    bridges.start("bridge-b")

    async def both_up() -> bool:  # encounters are shared among the replicas that are up
        return int(await redis.zcard(names.key("bridge", "replicas"))) == 2

    await eventually(both_up, timeout=60)
    players = []
    us = SttSettings(speech_model="universal-streaming-english", format_turns=True,
                     speaker_labels=True)  # fmt: skip
    for n, (eid, d) in enumerate(visits.items()):  # both model families, interleaved
        await start_encounter(redis, names, eid, us if n % 2 else LABELS)
        frames = frames_of(script_audio(script_from_dialogue(d)))
        players.append(asyncio.create_task(play_frames(redis, names, eid, frames, pace_factor=5)))

    async def both_busy() -> bool:
        a = await _owned_by(redis, names, "bridge-a")
        b = await _owned_by(redis, names, "bridge-b")
        return len(a) >= 3 and len(b) >= 3 and len(await redis.xrange(names.turns)) >= 10

    await eventually(both_busy, timeout=60)
    victims = await _owned_by(redis, names, "bridge-a")
    bridges.procs["bridge-a"].send_signal(signal.SIGKILL)
    lasts = await asyncio.gather(*players)
    for eid, last in zip(visits, lasts, strict=True):
        await stop_encounter(redis, names, eid, last)
    out = await wait_for_outcome(redis, names, list(visits), timeout=120)
    assert all(isinstance(m, EncounterTranscribed) for m in out.values())
    for eid, d in visits.items():
        _texts_ok(await turns_of(redis, names, eid), d)
    assert victims  # the killed replica really held encounters, which were resumed


async def test_sigterm_hands_encounters_back(
    redis: Any,
    redis_url: str,
    names: StreamNames,
    sim: SttSimulator,
    aci_dialogues: list[Dialogue],
) -> None:
    """In-process: replica one stops gracefully mid-visit; replica two resumes at once."""
    d = aci_dialogues[1]
    d = Dialogue(d.encounter_id, d.turns[:16], "")
    frames = frames_of(script_audio(script_from_dialogue(d)))
    # A long lease: only the handback (not expiry) can make the handover quick.
    settings = bridge_settings(redis_url, names, sim.url, lease_ms=60_000, consumer="one")
    async with running_bridge(settings) as one:
        await start_encounter(redis, names, "term-1", LABELS)
        player = asyncio.create_task(play_frames(redis, names, "term-1", frames))

        async def some_turns() -> bool:
            return len(await turns_of(redis, names, "term-1")) >= 3

        await eventually(some_turns, timeout=60)
        assert "term-1" in one.tasks, one.outcomes
    assert one.outcomes["term-1"] == "handback"
    assert await redis.get(names.key("bridge", "lease", "term-1")) is None
    two = bridge_settings(redis_url, names, sim.url, lease_ms=60_000, consumer="two")
    async with running_bridge(two):
        last = await player
        await stop_encounter(redis, names, "term-1", last)
        out = await wait_for_outcome(redis, names, ["term-1"], timeout=60)
    assert isinstance(out["term-1"], EncounterTranscribed)
    _texts_ok(await turns_of(redis, names, "term-1"), d)


async def test_replica_that_loses_its_lease_stops_at_once(
    redis: Any,
    redis_url: str,
    names: StreamNames,
    sim: SttSimulator,
    aci_dialogues: list[Dialogue],
) -> None:
    """A paused or partitioned replica whose lease was taken over must stop streaming and
    publish nothing more; the new owner finishes the visit exactly."""
    d = aci_dialogues[1]
    d = Dialogue(d.encounter_id, d.turns[:16], "")
    frames = frames_of(script_audio(script_from_dialogue(d)))
    lease_key = names.key("bridge", "lease", "lost-1")
    settings = bridge_settings(redis_url, names, sim.url, lease_ms=1500, consumer="one")
    async with running_bridge(settings) as one:
        await start_encounter(redis, names, "lost-1", LABELS)
        player = asyncio.create_task(play_frames(redis, names, "lost-1", frames))

        async def some_turns() -> bool:
            return len(await turns_of(redis, names, "lost-1")) >= 3

        await eventually(some_turns, timeout=60)
        await redis.set(lease_key, "intruder:1", px=60_000)  # someone else owns it now

        async def released() -> bool:
            return "lost-1" not in one.tasks

        await eventually(released, timeout=10)
        assert one.outcomes["lost-1"] == "lost"
        frozen = len(await turns_of(redis, names, "lost-1"))
        await asyncio.sleep(0.5)
        assert len(await turns_of(redis, names, "lost-1")) == frozen  # fenced: no writes
        await redis.delete(lease_key)  # the intruder goes away; the visit is resumed
        last = await player
        await stop_encounter(redis, names, "lost-1", last)
        out = await wait_for_outcome(redis, names, ["lost-1"], timeout=60)
    assert isinstance(out["lost-1"], EncounterTranscribed)
    _texts_ok(await turns_of(redis, names, "lost-1"), d)
