"""The STT simulator as a benchmark subprocess that also records WHEN it sends each turn.

    python -m bench.probe_sim --out emits.jsonl [--time-scale 1] [--format-turns]

Prints the ws:// URL on its first stdout line, like `medscribe sim stt --port 0`. Each Turn
message the simulator sends is logged as one JSON line {s: session id, o: turn_order,
e: end_of_turn, h: hash of the transcript, t: wall time}, the reference point of every
latency the benchmark reports. Only a hash of the text is written.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import signal
import time
from typing import IO, Any

from shared.logging import configure_logging
from simulators import stt_session
from simulators.stt_server import SttSimConfig, start_stt_simulator


def text_hash(text: str) -> str:
    return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()


def _instrument(out: IO[str]) -> None:
    original = stt_session.SttSession._send

    async def send(self: stt_session.SttSession, msg: Any) -> None:
        await original(self, msg)
        if msg.get("type") == "Turn":
            row = {"s": self.id, "o": msg.get("turn_order"), "e": bool(msg.get("end_of_turn")),
                   "h": text_hash(msg.get("transcript", "").strip()), "t": time.time()}  # fmt: skip
            out.write(json.dumps(row) + "\n")

    stt_session.SttSession._send = send  # type: ignore[method-assign]


async def main(out_path: str, time_scale: float) -> None:
    # Quiet: an unread stdout pipe that fills up would stall the simulator's event loop.
    configure_logging("WARNING", "console", service="sim-stt")
    with open(out_path, "w", buffering=1 << 16) as out:  # noqa: ASYNC230 - opened once
        _instrument(out)
        sim = await start_stt_simulator(SttSimConfig(time_scale=time_scale, api_keys=("bench",)))
        print(sim.url, flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        await sim.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True)
    parser.add_argument("--time-scale", type=float, default=1.0)
    a = parser.parse_args()
    asyncio.run(main(a.out, a.time_scale))
