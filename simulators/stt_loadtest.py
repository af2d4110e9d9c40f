"""Capacity check of the STT simulator: N concurrent real-time sessions against one
`medscribe sim stt` process; prints the simulator's CPU use and whether every final came back.

    python -m simulators.stt_loadtest --sessions 100 --seconds 30

Also prints the codec's offline decode speed (x real time). Figures only: no pass/fail.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass

from websockets.asyncio.client import connect

from simulators.codec import ScriptTurn, StreamDecoder, encode

_WORDS = "the patient reports mild chest pain since monday , no fever . blood pressure is ok ?"


def filler_script(seconds: float, seed: int, pause_ms: int = 1000) -> list[ScriptTurn]:
    """Alternating doctor/patient turns of filler words, about ``seconds`` of coded audio;
    ``seed`` varies the words (load tests and benchmarks, one script per session)."""
    words = _WORDS.split()
    turns: list[ScriptTurn] = []
    total_ms, i = 0.0, seed
    while total_ms < seconds * 1000 - 4000:
        n = 6 + i % 9
        text = " ".join(words[(i + k) % len(words)] for k in range(n))
        turns.append(ScriptTurn("doctor" if len(turns) % 2 == 0 else "patient", text, pause_ms))
        total_ms += (len(text) + 10) * 20 + pause_ms
        i += 7
    return turns


@dataclass
class Result:
    ok: bool
    finals: int
    expected: int
    max_lag_ms: float


async def _session(url: str, key: str, script: list[ScriptTurn], chunk_ms: int) -> Result:
    pcm = encode(script)
    size = 32 * chunk_ms
    finals: list[str] = []
    max_lag = 0.0
    async with connect(f"{url}?speech_model=u3-rt-pro&min_turn_silence=800&max_turn_silence=2000",
                       additional_headers={"Authorization": key}) as ws:  # fmt: skip
        json.loads(await ws.recv())
        t0 = time.monotonic()

        async def reader() -> None:
            nonlocal max_lag
            async for raw in ws:
                msg = json.loads(raw)
                if msg.get("type") == "Turn" and msg["end_of_turn"]:
                    finals.append(msg["transcript"])
                    # how late the final is against the audio time that decided it
                    due = (msg["words"][-1]["end"] + 800) / 1000 if msg["words"] else 0
                    max_lag = max(max_lag, time.monotonic() - t0 - due)

        task = asyncio.create_task(reader())
        for i, start in enumerate(range(0, len(pcm), size)):
            delay = t0 + i * chunk_ms / 1000 - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            await ws.send(pcm[start : start + size].ljust(size, b"\0"))
        await ws.send(json.dumps({"type": "Terminate"}))
        await task
    expected = [t.text for t in script]
    return Result(finals == expected, len(finals), len(expected), max_lag * 1000)


def _cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def decode_speed(seconds: float = 120.0) -> float:
    pcm = encode(filler_script(seconds, 1))
    dec = StreamDecoder()
    t = time.perf_counter()
    for i in range(0, len(pcm), 1600):  # 50 ms chunks, as a session receives them
        dec.feed(pcm[i : i + 1600])
    return len(pcm) / 32000 / (time.perf_counter() - t)


async def _run(args: argparse.Namespace, url: str) -> list[Result | BaseException]:
    async def staggered(i: int) -> Result:
        await asyncio.sleep(i * 0.01)
        return await _session(url, "lt", filler_script(args.seconds, i), args.chunk_ms)

    return await asyncio.gather(*(staggered(i) for i in range(args.sessions)),
                                return_exceptions=True)  # fmt: skip


def _report(args: argparse.Namespace, results: list[Result | BaseException], cpu: float,
            wall: float) -> None:  # fmt: skip
    good = [r for r in results if isinstance(r, Result) and r.ok]
    failed = [r for r in results if not isinstance(r, Result)]
    lags = [r.max_lag_ms for r in results if isinstance(r, Result)]
    print(f"sessions: {args.sessions} x {args.seconds:.0f} s audio, {args.chunk_ms} ms chunks")
    print(f"exact finals: {len(good)}/{args.sessions} sessions; errors: {len(failed)}")
    print(f"simulator CPU: {cpu:.1f} s in {wall:.1f} s wall = {100 * cpu / wall:.0f}% of a core")
    if lags:
        print(f"worst final lateness vs audio time: {max(lags):.0f} ms")
    for err in failed[:3]:
        print(f"  error: {type(err).__name__}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sessions", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--chunk-ms", type=int, default=50)
    args = parser.parse_args()
    print(f"decode speed, 50 ms chunks: {decode_speed():.0f}x real time")
    proc = subprocess.Popen(
        [sys.executable, "-m", "simulators", "stt", "--port", "0", "--api-key", "lt",
         "--log-level", "WARNING"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        m = re.search(r"(ws://\S+)", proc.stdout.readline())
        if not m:
            raise SystemExit("simulator did not start")
        cpu0, wall0 = _cpu_seconds(proc.pid), time.monotonic()
        results = asyncio.run(_run(args, m.group(1)))
        cpu, wall = _cpu_seconds(proc.pid) - cpu0, time.monotonic() - wall0
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    _report(args, results, cpu, wall)


if __name__ == "__main__":
    main()
