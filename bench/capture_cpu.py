"""CPU of the capture agent while it records one room in real time.

Plays a WAV (default: 20 s of 44.1 kHz stereo noise, so resampling is included) through
`services.capture.service.run` at real-time speed into Redis, with the terminal live view
rendering into /dev/null, and prints the process CPU time over the run as a share of one
core. `--redis-down` measures the spooling path instead (Redis unreachable).

    /work/venv/bin/python bench/capture_cpu.py [--seconds 20] [--rate 44100 --channels 2]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import shutil
import sys
import tempfile
import time
import uuid
import wave
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from services.capture.config import CaptureSettings  # noqa: E402
from services.capture.live_view import TerminalView  # noqa: E402
from services.capture.service import run  # noqa: E402
from services.capture.sources import WavFileSource  # noqa: E402
from shared.streams import make_redis  # noqa: E402

DEVNULL = open(os.devnull, "w")  # noqa: SIM115 - the live view renders here


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--rate", type=int, default=44100)
    parser.add_argument("--channels", type=int, default=2)
    parser.add_argument(
        "--redis-url", default=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    )
    parser.add_argument("--redis-down", action="store_true")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="capture-bench-"))
    path = work / "visit.wav"
    n = int(args.seconds * args.rate) * args.channels
    pcm = np.random.default_rng(1).integers(-8000, 8000, n).astype("<i2").tobytes()
    with wave.open(str(path), "wb") as w:
        w.setnchannels(args.channels)
        w.setsampwidth(2)
        w.setframerate(args.rate)
        w.writeframes(pcm)

    url = "redis://127.0.0.1:1/0" if args.redis_down else args.redis_url
    prefix = f"bench{uuid.uuid4().hex[:6]}:"
    settings = CaptureSettings(
        redis_url=url, stream_prefix=prefix, room="bench", spool_dir=work / "spool"
    )
    redis = make_redis(url)
    view = TerminalView(DEVNULL)
    cpu0, wall0 = _cpu(), time.monotonic()
    result = await run(
        settings, WavFileSource(path, speed=1.0), redis, llm_model="m", view=view, stop_timeout=1
    )
    cpu, wall = _cpu() - cpu0, time.monotonic() - wall0
    if not args.redis_down:
        keys = [k async for k in redis.scan_iter(match=f"{prefix}*")]
        if keys:
            await redis.delete(*keys)
    await redis.aclose()
    shutil.rmtree(work, ignore_errors=True)
    print(
        f"source {args.rate} Hz x{args.channels} -> 16 kHz mono, "
        f"{'spooling (Redis down)' if args.redis_down else 'Redis up'}"
    )
    print(f"frames {result.last_frame_seq + 1}, delivered {result.delivered}")
    print(f"wall {wall:.2f} s, CPU {cpu:.3f} s -> {100 * cpu / wall:.2f} % of one core")


if __name__ == "__main__":
    asyncio.run(main())
