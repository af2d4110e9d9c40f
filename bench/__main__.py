"""medscribe benchmarks: the whole pipeline, a scale sweep, and the single-script baseline.

    python -m bench pipeline [--rooms 10] [--seconds 60] [--latency 1.5]
    python -m bench scale    [--levels 10,50,100] [--seconds 60] [--latency 1.0]
    python -m bench baseline [--rooms 5] [--seconds 60] [--latencies 0.2,1.5]
    python -m bench quota    [--quota-levels 5,10,20] [--seconds 150] [--rpm 30]
    python -m bench all
    python -m bench summary      (markdown tables of the latest results)

Everything runs on this machine: the STT simulator at time scale 1 (real time), the LLM
Gateway simulator with a fixed latency, stt-bridge / editor / notes as subprocesses on a
private prefix of the Redis at --redis (default $REDIS_URL or redis://127.0.0.1:6379/0),
notes on a throwaway SQLite file. Prints tables, writes JSON to bench/results/. Not part of
the test run; figures only, no pass/fail. See docs/performance.md.
"""

from __future__ import annotations

import argparse
import asyncio
import os
from typing import Any

from bench.baseline import run_baseline
from bench.pipeline import PipelineConfig, run_pipeline
from bench.quota import REAL_PAUSE_MS, quota_sweep
from bench.report import print_compare, print_pipeline, print_scale, save
from bench.summary import markdown

LAG_LIMIT_MS = 100.0


def _floats(text: str) -> list[float]:
    return [float(x) for x in text.split(",") if x.strip()]


def _prof(a: argparse.Namespace) -> str:
    """Profiled runs are slower: kept apart from the figures."""
    return "-profiled" if a.profile else ""


def _tag(csv: str) -> str:
    return csv.replace(",", "-").replace(".", "_")


def _rooms_per_core(rooms: int, cpu_core: float) -> float:
    return rooms / cpu_core if cpu_core > 0 else float("nan")


def _service_cpu(r: dict[str, Any]) -> float:
    return sum(r["processes"][n]["cpu_core"] for n in ("stt-bridge", "editor", "notes"))


async def pipeline(a: argparse.Namespace) -> dict[str, Any]:
    cfg = PipelineConfig(a.rooms, a.seconds, a.latency, a.redis, profile=a.profile,
                         scheduler_poll_s=a.scheduler_poll_s)  # fmt: skip
    r = await run_pipeline(cfg)
    print_pipeline(r)
    return r


async def scale(a: argparse.Namespace) -> dict[str, Any]:
    levels = []
    for rooms in (int(x) for x in a.levels.split(",")):
        cfg = PipelineConfig(rooms, a.seconds, a.latency, a.redis, profile=a.profile,
                             scheduler_poll_s=a.scheduler_poll_s)  # fmt: skip
        r = await run_pipeline(cfg)
        print(f"  {rooms} rooms: lag p99 {r['frame_lag']['p99_ms']:.1f} ms", flush=True)
        levels.append(r)
    ok = [r["rooms"] for r in levels if r["frame_lag"]["p99_ms"] < LAG_LIMIT_MS]
    best = max(ok) if ok else None
    print_scale(levels, best)
    return {"levels": levels, "max_rooms_lag_p99_under_100ms": best}


async def baseline(a: argparse.Namespace) -> dict[str, Any]:
    rows = []
    for latency in _floats(a.latencies):
        cfg = PipelineConfig(a.rooms, a.seconds, latency, a.redis,
                             scheduler_poll_s=a.scheduler_poll_s)  # fmt: skip
        p = await run_pipeline(cfg)
        p["rooms_per_core"] = _rooms_per_core(a.rooms, _service_cpu(p))
        b = await run_baseline(a.rooms, a.seconds, latency)
        b["rooms_per_core"] = _rooms_per_core(a.rooms, b["cpu_core_total"])

        def ratio(key: str, q: str, b: dict[str, Any] = b, p: dict[str, Any] = p) -> float:
            den = p[key][q]
            return b[key][q] / den if den else float("nan")

        rows.append({
            "latency_s": latency, "pipeline": p, "baseline": b,
            "ratios_baseline_over_pipeline": {
                "partial_delay_p95_edit_in_flight": ratio("partial_delay_edit_in_flight", "p95_ms"),
                "turn_to_edited_p50": ratio("turn_to_edited", "p50_ms"),
                "turn_to_edited_p99": ratio("turn_to_edited", "p99_ms"),
                "rooms_per_core": b["rooms_per_core"] / p["rooms_per_core"]
                if p["rooms_per_core"] else float("nan"),
            },
        })  # fmt: skip
    print_compare(rows)
    return {"rows": rows}


def main() -> None:
    raw = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(
        prog="python -m bench", description=__doc__, formatter_class=raw
    )
    parser.add_argument(
        "mode", choices=("pipeline", "scale", "baseline", "quota", "all", "summary")
    )
    parser.add_argument("--rooms", type=int, default=10, help="Rooms (pipeline, baseline).")
    parser.add_argument("--levels", default="10,50,100", help="Room counts of the scale sweep.")
    parser.add_argument("--seconds", type=float, default=60.0, help="Audio per visit (s).")
    parser.add_argument("--latency", type=float, default=1.5, help="Gateway latency (s).")
    parser.add_argument("--latencies", default="0.2,1.5", help="Gateway latencies (baseline).")
    parser.add_argument(
        "--scheduler-poll-s",
        type=float,
        default=None,
        help="Notes scheduler poll interval (default: the product default).",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="Run the bridge under pyinstrument (report in the run folder).",
    )
    parser.add_argument("--redis", default=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"))
    parser.add_argument("--quota-levels", default="5,10,20", help="Room counts (quota).")
    parser.add_argument("--rpm", type=int, default=30, help="Gateway quota per model (quota).")
    parser.add_argument(
        "--pause-ms", type=int, default=REAL_PAUSE_MS, help="Pause after each turn (quota)."
    )
    parser.add_argument("--spread-s", type=float, default=15.0, help="Room starts (quota).")
    parser.add_argument(
        "--merge-across", action="store_true", help="Requests carry several visits (quota)."
    )
    parser.add_argument("--equivalent", default="", help="Equivalent models, comma list (quota).")
    a = parser.parse_args()
    if a.mode == "summary":
        print(markdown())
        return
    if a.mode in ("pipeline", "all"):
        print(f"results: {save('pipeline' + _prof(a), asyncio.run(pipeline(a)))}")
    if a.mode in ("baseline", "all"):
        print(f"results: {save('baseline-' + _tag(a.latencies), asyncio.run(baseline(a)))}")
    if a.mode == "quota":
        result = asyncio.run(
            quota_sweep(
                [int(x) for x in a.quota_levels.split(",")],
                seconds=a.seconds,
                latency_s=a.latency,
                redis_url=a.redis,
                rpm=a.rpm,
                pause_ms=a.pause_ms,
                spread_s=a.spread_s,
                merge_across=a.merge_across,
                equivalent=tuple(m for m in a.equivalent.split(",") if m),
            )  # fmt: skip
        )
        print(f"results: {save('quota-' + _tag(a.quota_levels), result)}")
    if a.mode in ("scale", "all"):
        print(f"results: {save('scale-' + _tag(a.levels) + _prof(a), asyncio.run(scale(a)))}")


if __name__ == "__main__":
    main()
