"""Editor benchmark: throughput of one worker at 1 s gateway latency, and pipeline overhead.

    python -m bench.editor_bench [--turns 400] [--latency 1.0] [--batch 16]

Uses Redis at $REDIS_URL (default redis://127.0.0.1:6379/0) under a private prefix and the
LLM Gateway simulator on a free port. Prints:
  1. backlog drain: turns/s one worker sustains (every turn queued at once, no quota);
  2. paced: overhead per turn = time in the worker minus gateway time, p50/p99, with
     turns arriving one by one (no queueing);
  3. quota: a 30-requests-per-window quota on a scaled window, showing how merging
     keeps up (turns per gateway request).
Not part of the test suite.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
import uuid
from typing import Any

from pydantic import SecretStr

from services.editor.config import EditorSettings
from services.editor.metrics import EditorMetrics
from services.editor.service import run
from shared.contracts import FinalTurn, StreamNames
from shared.gateway import GatewayClient
from shared.logging import configure_logging
from shared.streams import make_redis
from simulators.llm_server import LlmSimConfig, start_llm_simulator

TEXTS = (
    "i take metforman five hundred milligrams twice a day",
    "the chest pain started on monday and gets worse when i walk",
    "we'll start lisinipril ten milligrams in the morning",
    "my blood pressure at home was one fifty over ninety",
)


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def turn(encounter: int, seq: int) -> FinalTurn:
    return FinalTurn(
        encounter_id=f"bench-{encounter:02d}",
        seq=seq,
        stt_session_id="s",
        turn_order=seq,
        text=TEXTS[seq % len(TEXTS)],
        start_ms=seq * 4000,
        end_ms=seq * 4000 + 3000,
    )


async def add(redis: Any, names: StreamNames, turns: list[FinalTurn]) -> None:
    async with redis.pipeline(transaction=False) as pipe:
        for t in turns:
            pipe.xadd(names.turns, {"v": "1", "type": "FinalTurn", "data": t.model_dump_json()})
        await pipe.execute()


async def scenario(
    redis_url: str, sim_url: str, turns: list[FinalTurn], *, pace_s: float = 0.0, **kw: Any
) -> tuple[float, EditorMetrics]:
    names = StreamNames(f"bench{uuid.uuid4().hex[:8]}:")
    options: dict[str, Any] = {"workers": 1, "block_ms": 50, "rpm_per_model": 0, **kw}
    settings = EditorSettings(
        redis_url=redis_url,
        stream_prefix=names.prefix,
        llm_gateway_url=sim_url,
        assemblyai_api_key=SecretStr("sim-key"),
        **options,
    )
    redis = make_redis(redis_url, block_ms=50)
    gateway = GatewayClient(sim_url, SecretStr("sim-key"), max_connections=settings.max_inflight)
    metrics, stop = EditorMetrics(), asyncio.Event()
    task = asyncio.create_task(run(settings, redis, gateway, stop, metrics=metrics))
    started = time.monotonic()
    try:
        if pace_s:
            for t in turns:
                await add(redis, names, [t])
                await asyncio.sleep(pace_s)
        else:
            await add(redis, names, turns)
        while await redis.xlen(names.edited) < len(turns):  # noqa: ASYNC110 - polls Redis
            await asyncio.sleep(0.02)
        elapsed = time.monotonic() - started
    finally:
        stop.set()
        await task
        await gateway.aclose()
        keys = [k async for k in redis.scan_iter(match=f"{names.prefix}*")]
        if keys:
            await redis.delete(*keys)
        await redis.aclose()
    return elapsed, metrics


def report_overhead(label: str, metrics: EditorMetrics) -> None:
    overhead = [(total - gw) * 1000 for total, gw in metrics.timings]
    print(
        f"{label}: overhead per turn (worker time - gateway time) "
        f"p50 {pct(overhead, 0.5):.1f} ms, p99 {pct(overhead, 0.99):.1f} ms, "
        f"mean {statistics.fmean(overhead):.1f} ms over {len(overhead)} turns"
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--turns", type=int, default=400)
    parser.add_argument("--latency", type=float, default=1.0)
    parser.add_argument("--batch", type=int, default=16)
    args = parser.parse_args()
    redis_url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    configure_logging("WARNING", "console", "bench")
    async with await start_llm_simulator(LlmSimConfig(latency_s=args.latency)) as sim:
        turns = [turn(i % 20, i // 20) for i in range(args.turns)]
        elapsed, metrics = await scenario(redis_url, sim.base_url, turns, batch=args.batch)
        print(
            f"1. backlog drain, one worker, batch {args.batch}, gateway latency "
            f"{args.latency:.1f} s: {len(turns)} turns in {elapsed:.1f} s = "
            f"{len(turns) / elapsed:.1f} turns/s"
        )
        report_overhead("   backlog", metrics)

        paced = [turn(i % 20, i // 20) for i in range(100)]
        _, metrics = await scenario(redis_url, sim.base_url, paced, pace_s=0.05)
        report_overhead("2. paced 20 turns/s from 20 encounters", metrics)

        sim.config.rpm_per_model, sim.config.rpm_window_s = 30, 6.0
        await asyncio.sleep(6.5)  # the gateway counts the earlier scenarios' requests too
        throttled_before = sim.stats.count(status=429)
        requests_before = sim.stats.count(status=200)
        quota_turns = [turn(i % 10, i // 10) for i in range(200)]
        elapsed, metrics = await scenario(
            redis_url,
            sim.base_url,
            quota_turns,
            batch=64,
            rpm_per_model=30,
            rate_window_s=6.0,
            rate_margin_s=0.5,
        )
        requests = sim.stats.count(status=200) - requests_before
        print(
            f"3. quota 30 req per 6 s window (10 encounters, 200 turns): {elapsed:.1f} s, "
            f"{requests} requests, {len(quota_turns) / max(requests, 1):.1f} turns/request, "
            f"429s from the gateway: {sim.stats.count(status=429) - throttled_before}"
        )


if __name__ == "__main__":
    asyncio.run(main())
