"""`medscribe stt-bridge` as the benchmark runs it: the same Bridge, settings from the same
MEDSCRIBE_* environment, plus the frame-forwarding latency of every frame (capture's XADD
-> WebSocket send) written to `--out` as JSON when it stops (SIGTERM)."""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
from pathlib import Path

from services.stt_bridge.config import BridgeSettings
from services.stt_bridge.service import Bridge
from shared.logging import configure_logging
from shared.streams import make_redis


async def main(out: str) -> None:
    settings = BridgeSettings()
    configure_logging(settings.log_level, settings.log_format, service="stt-bridge")
    samples: list[float] = []
    redis = make_redis(settings.redis_url)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await Bridge(settings, redis, latency_samples=samples).run(stop)
    finally:
        await redis.aclose()
        Path(out).write_text(json.dumps(samples))  # noqa: ASYNC240 - once, at exit


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True)
    asyncio.run(main(parser.parse_args().out))
