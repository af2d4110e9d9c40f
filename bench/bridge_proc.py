"""`medscribe stt-bridge` as the benchmark runs it: the same Bridge, settings from the same
MEDSCRIBE_* environment, plus the frame-forwarding latency of every frame (capture's XADD
-> WebSocket send) written to `--out` as JSON when it stops (SIGTERM), and the event loop's
lag (how late a 50 ms timer fires: a busy or blocked loop) to `--out` + `.loop`."""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import time
from pathlib import Path

from services.stt_bridge.config import BridgeSettings
from services.stt_bridge.service import Bridge
from shared import aio
from shared.logging import configure_logging
from shared.streams import make_redis


async def _loop_lag(samples: list[float], stop: asyncio.Event) -> None:
    while not stop.is_set():
        t = time.monotonic()
        await asyncio.sleep(0.05)
        samples.append(time.monotonic() - t - 0.05)


async def main(out: str) -> None:
    settings = BridgeSettings()
    configure_logging(settings.log_level, settings.log_format, service="stt-bridge")
    samples: list[float] = []
    redis = make_redis(settings.redis_url)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    lag: list[float] = []
    monitor = asyncio.create_task(_loop_lag(lag, stop))
    try:
        await Bridge(settings, redis, latency_samples=samples).run(stop)
    finally:
        await redis.aclose()
        await monitor
        Path(out).write_text(json.dumps(samples))  # noqa: ASYNC240 - once, at exit
        Path(out + ".loop").write_text(json.dumps(lag))  # noqa: ASYNC240


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True)
    aio.run(main(parser.parse_args().out), use_uvloop=BridgeSettings().uvloop)
