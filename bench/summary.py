"""Markdown tables of the latest results in bench/results/ (for docs/performance.md).

python -m bench summary
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bench.report import RESULTS, f


def _load(pattern: str) -> list[dict[str, Any]]:
    return [json.loads(p.read_text()) for p in sorted(RESULTS.glob(pattern))]


def _scale_rows() -> list[dict[str, Any]]:
    levels: dict[int, dict[str, Any]] = {}
    for run in _load("latest-scale-*.json"):
        if run["kind"].endswith("-profiled"):
            continue
        for lv in run["levels"]:
            levels[lv["rooms"]] = lv | {"_at": run["at"]}
    return [levels[k] for k in sorted(levels)]


def markdown() -> str:
    out: list[str] = []
    rows = _scale_rows()
    if rows:
        out += ["| rooms | frame lag p50 / p99 ms | turn overhead p50 / p99 ms "
                "| bridge loop lag p99 ms | bridge CPU ms per room-s | bridge CPU, RSS "
                "| editor CPU, RSS | notes CPU, RSS | STT sim CPU | turns edited |",
                "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]  # fmt: skip
        for r in rows:
            pr = r["processes"]
            cell = {n: f"{100 * pr[n]['cpu_core']:.0f} %, {pr[n]['rss_mb']:.0f} MB"
                    for n in ("stt-bridge", "editor", "notes")}  # fmt: skip
            loop = r.get("bridge_loop_lag", {}).get("p99_ms")
            cpu_s = pr["stt-bridge"].get("cpu_s")
            per_room = f(1000 * cpu_s / (r["rooms"] * r["seconds"])) if cpu_s else "-"
            out.append(
                f"| {r['rooms']} | {f(r['frame_lag']['p50_ms'])} / {f(r['frame_lag']['p99_ms'])} "
                f"| {f(r['turn_overhead']['p50_ms'])} / {f(r['turn_overhead']['p99_ms'])} "
                f"| {f(loop) if loop is not None else '-'} | {per_room} "
                f"| {cell['stt-bridge']} | {cell['editor']} | {cell['notes']} "
                f"| {100 * pr['sim-stt']['cpu_core']:.0f} % "
                f"| {r['turns_edited']}/{r['turns_expected']} |"
            )
    for run in _load("latest-baseline-*.json"):
        for row in run["rows"]:
            p, b = row["pipeline"], row["baseline"]
            head = f"Gateway latency {row['latency_s']} s, {p['rooms']} rooms:"
            out += ["", head, "", "| | pipeline | baseline | baseline / pipeline |"]
            out.append("|---|---:|---:|---:|")
            for label, key, q in (
                (
                    "partial delay p95, edit in flight (ms)",
                    "partial_delay_edit_in_flight",
                    "p95_ms",
                ),
                ("partial delay p95, all (ms)", "partial_delay", "p95_ms"),
                ("turn -> edited on screen p50 (ms)", "turn_to_edited", "p50_ms"),
                ("turn -> edited on screen p99 (ms)", "turn_to_edited", "p99_ms"),
                ("note overhead p50 (stop -> stored - gw, ms)", "note_overhead", "p50_ms"),
            ):
                pv, bv = p[key][q], b[key][q]
                ratio = bv / pv if pv and bv is not None else None
                out.append(f"| {label} | {f(pv)} | {f(bv)} | {f(ratio, 2)} |")
            pr, br = p["rooms_per_core"], b["rooms_per_core"]
            out.append(f"| rooms per core (CPU of services) | {f(pr, 0)} | {f(br, 0)} | "
                       f"{f(br / pr if pr and br else None, 2)} |")  # fmt: skip
    for run in _load("latest-pipeline.json"):
        out += ["", f"Pipeline, {run['rooms']} rooms, gateway {run['gateway_latency_s']} s:", "",
                "| | p50 ms | p95 ms | p99 ms | n |", "|---|---:|---:|---:|---:|"]  # fmt: skip
        for label, key in (("turn overhead", "turn_overhead"), ("note overhead", "note_overhead"),
                           ("note overhead after last edit", "note_overhead_after_last_edit"),
                           ("partial delay", "partial_delay"),
                           ("frame lag", "frame_lag")):  # fmt: skip
            s = run[key]
            out.append(f"| {label} | {f(s['p50_ms'])} | {f(s['p95_ms'])} | {f(s['p99_ms'])} "
                       f"| {s['n']} |")  # fmt: skip
    return "\n".join(out)


if __name__ == "__main__":
    print(markdown() or f"no results in {Path(RESULTS)}")
