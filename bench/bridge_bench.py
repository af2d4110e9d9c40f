"""How many encounters one STT-bridge process sustains in real time on this machine.

    python -m bench.bridge_bench --rooms 10,50,100 --seconds 40

For each room count: a `medscribe sim stt` subprocess (time scale 1), a writer subprocess
playing N rooms of tone-coded visits into Redis in real time (50 ms frames, like capture),
and ONE bridge in this process. Prints, per level: frame-forwarding latency (capture's XADD
-> WebSocket send) p50/p99, the bridge's CPU (share of one core, and per encounter), and
whether every visit came back with exactly its turns. Figures only: no pass/fail.
Needs Redis (REDIS_URL, default redis://127.0.0.1:6379/0).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import statistics
import subprocess
import sys
import time
import uuid
from typing import Any

from services.stt_bridge.config import BridgeSettings
from services.stt_bridge.service import Bridge
from shared.contracts import (
    AudioFrame,
    EncounterStarted,
    EncounterStopped,
    FinalTurn,
    StreamNames,
    decode,
    decode_control,
    encode_audio,
)
from shared.logging import configure_logging
from shared.streams import make_redis, publish
from simulators.codec import ScriptTurn, encode
from simulators.stt_loadtest import filler_script


def script(seconds: float, seed: int) -> list[ScriptTurn]:
    return filler_script(seconds, seed, pause_ms=1200)


# -- writer subprocess: N rooms of capture, real time ---------------------------------------


async def write_rooms(redis_url: str, prefix: str, rooms: int, seconds: float) -> None:
    redis = make_redis(redis_url)
    pool: Any = redis.connection_pool
    pool.max_connections = rooms + 16  # one in-flight XADD per room at most
    names = StreamNames(prefix)

    async def room(i: int) -> None:
        await asyncio.sleep(i * 2.0 / rooms)  # rooms start over ~2 s, as visits do
        eid = f"bench-{i:04d}"
        pcm = b"\0" * 16000 + encode(script(seconds, i))
        await publish(
            redis,
            names.control,
            EncounterStarted(encounter_id=eid, room=f"r{i}", llm_model="claude-sonnet-4-6"),
        )
        t0 = time.monotonic()
        seq = -1
        for seq, start in enumerate(range(0, len(pcm), 1600)):
            delay = t0 + seq * 0.05 - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            fields: Any = encode_audio(AudioFrame(seq=seq, pcm=pcm[start : start + 1600]))
            await redis.xadd(names.audio(eid), fields)
        await publish(redis, names.control, EncounterStopped(encounter_id=eid, last_frame_seq=seq))

    await asyncio.gather(*(room(i) for i in range(rooms)))
    await redis.aclose()


# -- one level --------------------------------------------------------------------------------


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def _wait_outcomes(redis: Any, names: StreamNames, rooms: int, timeout: float) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = await redis.xrange(names.control)
        done = [m for _, f in rows if type(m := decode_control(f)).__name__ != "EncounterStarted"
                and type(m).__name__ != "EncounterStopped"]  # fmt: skip
        if len(done) >= rooms:
            return len(done)
        await asyncio.sleep(0.5)
    return -1


async def run_level(redis_url: str, sim_url: str, rooms: int, seconds: float) -> dict[str, Any]:
    prefix = f"bench{uuid.uuid4().hex[:8]}:"
    names = StreamNames(prefix)
    samples: list[float] = []
    settings = BridgeSettings(
        redis_url=redis_url, stream_prefix=prefix, streaming_url=sim_url,
        assemblyai_api_key="bench", consumer="bench", log_level="WARNING",
    )  # fmt: skip
    redis = make_redis(redis_url)
    bridge = Bridge(settings, redis, latency_samples=samples)
    stop = asyncio.Event()
    task = asyncio.create_task(bridge.run(stop))
    writer = subprocess.Popen(  # noqa: ASYNC220 - started once per level
        [sys.executable, "-m", "bench.bridge_bench", "--writer", "--rooms", str(rooms),
         "--seconds", str(seconds), "--prefix", prefix, "--redis", redis_url],
    )  # fmt: skip
    cpu0, wall0 = time.process_time(), time.monotonic()
    finished = await _wait_outcomes(redis, names, rooms, seconds * 3 + 60)
    cpu, wall = time.process_time() - cpu0, time.monotonic() - wall0
    writer.wait(60)
    stop.set()
    await task
    exact = 0
    rows: Any = await redis.xrange(names.turns)
    by_enc: dict[str, list[str]] = {}
    for _, f in rows:
        t = decode(f, FinalTurn)
        by_enc.setdefault(t.encounter_id, []).append(t.text)
    for i in range(rooms):
        want = [t.text for t in script(seconds, i)]
        exact += by_enc.get(f"bench-{i:04d}") == want
    keys = [k async for k in redis.scan_iter(match=f"{prefix}*")]
    for k in range(0, len(keys), 500):
        await redis.delete(*keys[k : k + 500])
    await redis.aclose()
    return {
        "rooms": rooms,
        "finished": finished,
        "exact": exact,
        "p50_ms": _pct(samples, 0.50) * 1000,
        "p99_ms": _pct(samples, 0.99) * 1000,
        "max_ms": max(samples, default=float("nan")) * 1000,
        "mean_ms": statistics.fmean(samples) * 1000 if samples else float("nan"),
        "cpu_core": cpu / wall,
        "cpu_ms_per_enc_s": cpu / wall / rooms * 1000,
    }


def _start_sim() -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "medscribe.cli", "sim", "stt", "--port", "0", "--api-key", "bench",
         "--log-level", "WARNING"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stdout is not None
    m = re.search(r"(ws://\S+)", proc.stdout.readline())
    if not m:
        raise SystemExit("simulator did not start")
    return proc, m.group(1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rooms", default="10,50,100", help="Comma-separated room counts.")
    parser.add_argument("--seconds", type=float, default=40.0, help="Audio per visit.")
    parser.add_argument("--redis", default=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"))
    parser.add_argument("--writer", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--prefix", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.writer:
        asyncio.run(write_rooms(args.redis, args.prefix, int(args.rooms), args.seconds))
        return
    configure_logging("WARNING", "console", service="bridge-bench")
    print(f"cpus: {os.cpu_count()}; audio per visit: {args.seconds:.0f} s; 50 ms frames")
    print("rooms  done  exact  fwd p50 ms  fwd p99 ms  fwd max ms  bridge CPU  CPU/enc")
    for rooms in (int(r) for r in args.rooms.split(",")):
        sim, url = _start_sim()
        try:
            r = asyncio.run(run_level(args.redis, url, rooms, args.seconds))
        finally:
            sim.terminate()
            sim.wait(30)
        print(
            f"{r['rooms']:5d}  {r['finished']:4d}  {r['exact']:5d}  {r['p50_ms']:10.1f}  "
            f"{r['p99_ms']:10.1f}  {r['max_ms']:10.1f}  {100 * r['cpu_core']:8.0f}%  "
            f"{r['cpu_ms_per_enc_s']:5.1f} ms/s",
            flush=True,
        )


if __name__ == "__main__":
    main()
