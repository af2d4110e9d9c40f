"""Sizing on Redis Cluster: rooms per Redis primary, and what WAIT costs a final turn.

    python -m bench.cluster_sizing [--levels 100,200,400,800] [--seconds 10]

Starts its own cluster (3 primaries + 3 replicas on loopback, as tests/cluster does). One
clinic's keys live in one slot, so one primary carries all of its rooms: every room writes a
50 ms frame of 16 kHz PCM16 (1600 bytes) 20 times a second to its own audio stream (one
pipeline per tick for all rooms: the writes Redis sees, without a process per room), and
one reader does the bridge's shared XREAD over every room's stream. Frame lag is the time
from the XADD being sent to the reader holding the frame. Levels go up until the p99 lag
passes 100 ms. The primary's, writer's and reader's CPU are measured from /proc so the
limit is named. Then the bridge's ``publish_turn`` is timed with and without ``WAIT 1``.

Figures only, no pass/fail (docs/cluster.md quotes them). Writes bench/results/cluster-*.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from services.stt_bridge.lease import Leases
from services.stt_bridge.state import EncounterStore
from shared.contracts import EncounterStarted, FinalTurn, StreamNames
from shared.streams import ReplicaWait, make_redis
from tests.cluster.procs import RedisClusterProcs

FRAME = b"\x01" * 1600
TICK_S = 0.05
LAG_LIMIT_MS = 100.0
RESULTS = Path(__file__).with_name("results")


def _cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _writer(url: str, prefix: str, rooms: int, seconds: float) -> None:
    asyncio.run(_write(url, StreamNames(prefix), rooms, seconds))


async def _write(url: str, names: StreamNames, rooms: int, seconds: float) -> None:
    redis: Any = make_redis(url)
    streams = [names.audio(f"room-{i}.enc") for i in range(rooms)]
    start = time.monotonic()
    tick = 0
    while time.monotonic() - start < seconds:
        async with redis.pipeline(transaction=False) as pipe:
            for stream in streams:
                pipe.xadd(stream, {"seq": tick, "t": repr(time.time()), "pcm": FRAME},
                          maxlen=2000, approximate=True)  # fmt: skip
            await pipe.execute()
        tick += 1
        await asyncio.sleep(max(0.0, start + tick * TICK_S - time.monotonic()))
    await redis.aclose()


async def _read(url: str, names: StreamNames, rooms: int, until: float) -> list[float]:
    redis: Any = make_redis(url)
    # The level's streams are new: from the start, so no frame written between two reads
    # is skipped (``$`` would skip those of streams the last reply did not carry).
    positions = {names.audio(f"room-{i}.enc"): "0-0" for i in range(rooms)}
    lags: list[float] = []
    while time.monotonic() < until:
        reply: Any = await redis.xread(positions, count=20, block=100)
        now = time.time()
        for stream, entries in reply or []:
            key = stream.decode() if isinstance(stream, bytes) else stream
            for entry_id, fields in entries:
                lags.append((now - float(fields[b"t"])) * 1000)
                positions[key] = entry_id
    await redis.aclose()
    return lags


async def rooms_level(cluster: RedisClusterProcs, rooms: int, seconds: float) -> dict[str, Any]:
    names = StreamNames(f"ms:{{size-{rooms}}}:")
    primary = cluster.primary_of(names.control)
    redis_pid = cluster.procs[primary].pid
    ctx = multiprocessing.get_context("spawn")
    writer = ctx.Process(target=_writer, args=(cluster.url, names.prefix, rooms, seconds))
    cpu0, me0, t0 = _cpu_s(redis_pid), time.process_time(), time.monotonic()
    reader = asyncio.create_task(_read(cluster.url, names, rooms, t0 + seconds + 2.0))
    await asyncio.sleep(0.3)  # the reader's XREAD is waiting before the first frame
    writer.start()
    writer_cpu = 0.0
    while writer.is_alive():
        try:
            writer_cpu = _cpu_s(writer.pid or 0)
        except OSError:
            break
        await asyncio.sleep(0.2)
    writer.join()
    lags = await reader
    wall = time.monotonic() - t0
    lags.sort()
    p = (lambda q: lags[min(len(lags) - 1, int(q * len(lags)))]) if lags else (lambda q: 0.0)
    return {
        "rooms": rooms,
        "frames": len(lags),
        "frames_expected": rooms * int(seconds / TICK_S),
        "lag_p50_ms": round(p(0.5), 1),
        "lag_p99_ms": round(p(0.99), 1),
        "lag_max_ms": round(lags[-1], 1) if lags else 0.0,
        "redis_primary_cpu_core": round((_cpu_s(redis_pid) - cpu0) / wall, 3),
        # What one room costs the primary's single thread: the ceiling once clients are
        # not the limit (at 80 % of a core, leaving room for the bridge's and notes' reads).
        "redis_rooms_at_80pct_core": round(
            0.8 * rooms * wall / max(_cpu_s(redis_pid) - cpu0, 1e-9)
        ),  # fmt: skip
        "writer_cpu_core": round(writer_cpu / seconds, 2),
        "reader_cpu_core": round((time.process_time() - me0) / wall, 2),
    }


async def wait_cost(cluster: RedisClusterProcs, turns: int) -> dict[str, Any]:
    """``publish_turn`` (the bridge's final-turn script) with and without WAIT 1."""
    out: dict[str, Any] = {}
    for label, wait in (("no_wait", None), ("wait_1", ReplicaWait(1, 500))):
        names = StreamNames(f"ms:{{wait-{label}}}:")
        redis: Any = make_redis(cluster.url)
        store = EncounterStore(redis, names, 600, wait)
        leases = Leases(redis, names, "bench", 600_000)
        await store.register(EncounterStarted(encounter_id="e", room="r", llm_model="m"))
        await leases.acquire("e")
        times: list[float] = []
        for seq in range(turns):
            turn = FinalTurn(encounter_id="e", seq=seq, stt_session_id="s", turn_order=seq,
                             text="t" * 200, start_ms=0, end_ms=1)  # fmt: skip
            t = time.perf_counter()
            await store.publish_turn(leases.token, turn, resume_pos=seq, ckpt=("1-0", 0, 0))
            times.append((time.perf_counter() - t) * 1000)
        await redis.aclose()
        times.sort()
        out[label] = {
            "p50_ms": round(statistics.median(times), 2),
            "p99_ms": round(times[int(0.99 * (len(times) - 1))], 2),
            "unreplicated": store.wait_stats.unreplicated,
        }
    return out


async def main(levels: list[int], seconds: float, turns: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="ms-cluster-bench-") as tmp:
        cluster = RedisClusterProcs(Path(tmp))
        cluster.start()
        cluster.heal()  # every replica synced: WAIT is timed, not the first full sync
        try:
            result: dict[str, Any] = {"cores": os.cpu_count(), "load_before": os.getloadavg()}
            result["wait"] = await wait_cost(cluster, turns)
            print(json.dumps(result["wait"]))
            result["levels"] = []
            for rooms in levels:
                row = await rooms_level(cluster, rooms, seconds)
                print(json.dumps(row))
                result["levels"].append(row)
                if row["lag_p99_ms"] > LAG_LIMIT_MS:
                    break
            fit = [r["rooms"] for r in result["levels"] if r["lag_p99_ms"] <= LAG_LIMIT_MS]
            result["rooms_per_primary_at_p99_under_100ms"] = max(fit, default=0)
            result["load_after"] = os.getloadavg()
            ceilings = [r["redis_rooms_at_80pct_core"] for r in result["levels"]]
            result["redis_rooms_at_80pct_core_median"] = statistics.median(ceilings)
        finally:
            cluster.stop()
    RESULTS.mkdir(exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    (RESULTS / f"cluster-sizing-{stamp}.json").write_text(json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--levels", default="100,200,400,800,1200")
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--turns", type=int, default=300)
    a = ap.parse_args()
    levels = [int(x) for x in a.levels.split(",") if x.strip()]
    r = asyncio.run(main(levels, a.seconds, a.turns))
    print("rooms per primary at frame-lag p99 < 100 ms:", r["rooms_per_primary_at_p99_under_100ms"])
