"""The single-script baseline at N rooms: N `bench.baseline_script` processes (one room, one
WebSocket each) against the same simulators and the same dialogues as the pipeline."""

from __future__ import annotations

import asyncio
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.analysis import load_emits, partial_delays, turn_delays
from bench.procs import Procs, base_env, module
from bench.stats import ProcWatch, summary


async def run_baseline(rooms: int, seconds: float, latency_s: float,
                       workdir: Path | None = None) -> dict[str, Any]:  # fmt: skip
    work = workdir or Path(tempfile.mkdtemp(prefix="medscribe-baseline-"))
    procs = Procs(work)
    try:
        env = base_env(MEDSCRIBE_LOG_LEVEL="WARNING")
        stt_url = procs.start_stt_probe(work / "emits.jsonl", env)
        llm_url = procs.start_llm_sim(latency_s, env)
        names = [f"scribe-{i}" for i in range(rooms)]
        for i, n in enumerate(names):
            procs.start(n, module("bench.baseline_script", "--url", stt_url, "--gateway",
                                  llm_url, "--room", str(i), "--seconds", str(seconds),
                                  "--out", str(work / f"{n}.json")), env)  # fmt: skip
            await asyncio.sleep(2.0 / rooms)  # rooms start over ~2 s, as in the pipeline run
        watch = ProcWatch(procs.pids(*names))
        watch.start()
        deadline = time.monotonic() + seconds * 2 + 60 + 30 * latency_s
        while time.monotonic() < deadline and any(procs.procs[n].poll() is None for n in names):
            watch.sample()
            await asyncio.sleep(0.5)
        usage = watch.stop()
    finally:
        procs.stop_all()
    emits = load_emits(work / "emits.jsonl")
    shown: list[tuple[str, str, float]] = []
    edited: list[tuple[str, int, float]] = []
    note: list[float] = []
    for n in names:
        path = work / f"{n}.json"
        if not path.exists():
            continue
        r = json.loads(path.read_text())
        shown += [tuple(x) for x in r["partials"]]
        edited += [tuple(x) for x in r["edited"]]
        note.append(r["note_at"] - r["stopped"] - latency_s)
    delays = turn_delays(emits, edited)
    cpu = sum(u["cpu_core"] for u in usage.values())
    return {
        "rooms": rooms, "seconds": seconds, "gateway_latency_s": latency_s,
        "turns_edited": len(edited),
        "turn_to_edited": summary(delays),
        "turn_overhead": summary([d - latency_s for d in delays]),
        "partial_delay": summary(partial_delays(emits, shown)),
        "partial_delay_edit_in_flight": summary(
            partial_delays(emits, shown, in_flight_s=latency_s)
        ),
        "note_overhead": summary(note),
        "cpu_core_total": cpu,
        "rss_mb_per_room": sum(u["rss_mb"] for u in usage.values()) / max(1, len(usage)),
        "workdir": str(work),
    }  # fmt: skip
