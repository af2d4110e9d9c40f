"""Exam rooms in real time: N capture agents' worth of audio written into Redis.

Run as a subprocess by the benchmark (`python -m bench.feeder ...`) so the writer's CPU is
not charged to the services. Each room plays the first `seconds` of an ACI-Bench dialogue
(room i -> dialogue i mod 20), tone-coded for the simulator, as 50 ms frames at wall-clock
pace, as `medscribe capture` would; it writes the wall time of each EncounterStopped to
`--out` (JSON) so the benchmark can time stop -> note stored.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
from functools import cache
from pathlib import Path
from typing import Any

from shared.acibench import default_path, load_dialogues
from shared.contracts import (
    AudioFrame,
    EncounterStarted,
    EncounterStopped,
    StreamNames,
    SttSettings,
    encode_audio,
)
from shared.contracts import encode as encode_message
from shared.streams import make_redis
from simulators.codec import ScriptTurn, encode, script_from_dialogue

FRAME_BYTES = 1600  # 50 ms of 16 kHz PCM16
TICK_S = 0.05  # one frame per room per tick
LEAD_IN = b"\0" * 16000  # 0.5 s of silence, as a room mic picks up before anyone talks
MODEL = "claude-haiku-4-5-20251001"
# Universal-Streaming sends a growing partial per word (U3 sends at most one per pause), so
# it is the model that shows whether partials wait behind an edit.
SPEECH_MODEL = "universal-streaming-english"


def aci_path() -> Path:
    """MEDSCRIBE_ACI_BENCH, else `../shared/aci-bench/valid.csv` beside the main checkout
    (a worktree under /work/wt has it two levels further up)."""
    if os.environ.get("MEDSCRIBE_ACI_BENCH"):
        return Path(os.environ["MEDSCRIBE_ACI_BENCH"])
    for candidate in (
        default_path(),
        Path(__file__).resolve().parents[3] / "shared/aci-bench/valid.csv",
    ):
        if candidate.exists():
            return candidate
    raise SystemExit("ACI-Bench dialogues not found: set MEDSCRIBE_ACI_BENCH to valid.csv")


@cache
def room_script(room: int, seconds: float, pause_ms: int = 1200) -> tuple[ScriptTurn, ...]:
    """The leading turns of dialogue `room % 20` that fit in `seconds` of audio."""
    dialogues = load_dialogues(aci_path())
    turns = script_from_dialogue(dialogues[room % len(dialogues)], pause_ms)
    chosen: list[ScriptTurn] = []
    for t in turns:
        if len(LEAD_IN) + len(encode([*chosen, t])) > seconds * 32000 and chosen:
            break
        chosen.append(t)
    return tuple(chosen)


def room_pcm(room: int, seconds: float, pause_ms: int = 1200) -> bytes:
    return LEAD_IN + encode(list(room_script(room, seconds, pause_ms)))


def encounter_id(room: int) -> str:
    return f"bench-{room:04d}"


def _frames(pcm: bytes) -> list[dict[str, bytes]]:
    """Every frame's XADD fields, encoded before the clock starts (issue 22: the feeder
    took as much CPU as a service)."""
    return [
        encode_audio(AudioFrame(seq=seq, pcm=pcm[at : at + FRAME_BYTES]))
        for seq, at in enumerate(range(0, len(pcm), FRAME_BYTES))
    ]


async def play_rooms(
    redis_url: str,
    prefix: str,
    rooms: int,
    seconds: float,
    speech_model: str = SPEECH_MODEL,
    *,
    pause_ms: int = 1200,
    spread_s: float = 2.0,
) -> dict[str, float]:
    """All rooms from one 50 ms clock: each tick XADDs every room's due frame (and its start
    or stop) in one pipelined round trip, as capture agents writing at the same pace would,
    without a task and a round trip per room per frame. Rooms start over ``spread_s``;
    ``pause_ms`` is the silence after each turn (longer pauses: fewer turns per minute)."""
    redis = make_redis(redis_url)
    names = StreamNames(prefix)
    stopped: dict[str, float] = {}
    frames = [_frames(room_pcm(i, seconds, pause_ms)) for i in range(rooms)]
    first = [round(i * spread_s / rooms / TICK_S) for i in range(rooms)]  # start tick of each
    stt = SttSettings(speech_model=speech_model)
    starts: list[Any] = [
        encode_message(
            EncounterStarted(
                encounter_id=encounter_id(i), room=f"room-{i}", llm_model=MODEL, stt=stt
            )
        )
        for i in range(rooms)
    ]
    last_tick = max(first[i] + len(frames[i]) for i in range(rooms))
    t0 = time.monotonic()
    for tick in range(last_tick + 1):
        delay = t0 + tick * TICK_S - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        ended: list[str] = []
        pipe: Any = redis.pipeline(transaction=False)
        for i in range(rooms):
            k = tick - first[i]
            if k < 0 or k > len(frames[i]):
                continue
            eid = encounter_id(i)
            if k == 0:
                pipe.xadd(names.control, starts[i])
            if k < len(frames[i]):
                pipe.xadd(names.audio(eid), frames[i][k])
            else:
                stop = EncounterStopped(encounter_id=eid, last_frame_seq=len(frames[i]) - 1)
                pipe.xadd(names.control, encode_message(stop))
                ended.append(eid)
        await pipe.execute()
        now = time.time()
        stopped.update((eid, now) for eid in ended)
    await redis.aclose()
    return stopped


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--redis", required=True)
    parser.add_argument("--prefix", required=True)
    parser.add_argument("--rooms", type=int, required=True)
    parser.add_argument("--seconds", type=float, required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--speech-model", default=SPEECH_MODEL)
    parser.add_argument("--pause-ms", type=int, default=1200)
    parser.add_argument("--spread-s", type=float, default=2.0)
    a = parser.parse_args()
    result = asyncio.run(
        play_rooms(
            a.redis,
            a.prefix,
            a.rooms,
            a.seconds,
            a.speech_model,
            pause_ms=a.pause_ms,
            spread_s=a.spread_s,
        )  # fmt: skip
    )
    with open(a.out, "w") as f:
        json.dump(result, f)
