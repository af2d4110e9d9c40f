"""Tables on stdout and JSON files under bench/results/ for a benchmark run."""

from __future__ import annotations

import json
import math
import os
import platform
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


def machine() -> dict[str, Any]:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
        mem_kb = int(Path("/proc/meminfo").read_text().split()[1])
    except (OSError, ValueError, IndexError):
        mem_kb = 0
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "mem_gb": round(mem_kb / 2**20, 1),
        "python": platform.python_version(),
        "kernel": platform.release(),
    }


def _clean(obj: Any) -> Any:
    """NaN is not JSON: write null."""
    if isinstance(obj, float) and math.isnan(obj):
        return None
    if isinstance(obj, dict):
        return {k: _clean(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_clean(v) for v in obj]
    return obj


def save(kind: str, data: dict[str, Any]) -> Path:
    RESULTS.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    data = {"kind": kind, "at": stamp, "machine": machine(), **data}
    path = RESULTS / f"{kind}-{stamp}.json"
    text = json.dumps(_clean(data), indent=2) + "\n"
    path.write_text(text)
    (RESULTS / f"latest-{kind}.json").write_text(text)
    return path


def f(x: float | None, digits: int = 1) -> str:
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{digits}f}"


def print_pipeline(r: dict[str, Any]) -> None:
    t, n, p = r["turn_overhead"], r["note_overhead"], r["partial_delay"]
    print(
        f"pipeline: {r['rooms']} rooms x {r['seconds']:.0f} s, gateway {r['gateway_latency_s']} s;"
        f" turns {r['turns_edited']}/{r['turns_expected']}, notes {r['notes_stored']}/{r['rooms']}"
    )
    print("  metric                               p50 ms   p95 ms   p99 ms   max ms      n")
    for label, s in (
        ("turn overhead (edited on screen - gw)", t),
        ("note overhead (stop -> stored - gw)", n),
        ("  same, from last edit (stop+edit in)", r["note_overhead_after_last_edit"]),
        ("partial delay (sim -> screen)", p),
        ("frame lag (capture XADD -> WS send)", r["frame_lag"]),
    ):
        print(
            f"  {label:37s}{f(s['p50_ms']):>7s}  {f(s['p95_ms']):>7s}  {f(s['p99_ms']):>7s}"
            f"  {f(s['max_ms']):>7s}  {s['n']:5d}"
        )


def print_scale(levels: list[dict[str, Any]], best: int | None) -> None:
    print(
        "rooms  lag p99 ms  turn ovh p99 ms  bridge CPU/RSS    editor CPU/RSS    notes CPU/RSS"
        "     turns ok"
    )
    for r in levels:
        pr = r["processes"]
        cells = "  ".join(
            f"{100 * pr[n]['cpu_core']:5.0f}% {pr[n]['rss_mb']:5.0f}MB"
            for n in ("stt-bridge", "editor", "notes")
        )
        print(
            f"{r['rooms']:5d}  {f(r['frame_lag']['p99_ms']):>10s}  "
            f"{f(r['turn_overhead']['p99_ms']):>15s}  {cells}  "
            f"{r['turns_edited']}/{r['turns_expected']}"
        )
    print(f"highest room count with frame lag p99 < 100 ms: {best if best else 'none measured'}")


def print_compare(rows: list[dict[str, Any]]) -> None:
    print("gateway  system     partial p95 ms  partial p95 ms   turn->edited   rooms per core")
    print("latency             (all)           (edit in flight) p50/p99 ms")
    for r in rows:
        for name in ("pipeline", "baseline"):
            x = r[name]
            print(
                f"{r['latency_s']:6.1f}s  {name:9s}  {f(x['partial_delay']['p95_ms']):>14s}  "
                f"{f(x['partial_delay_edit_in_flight']['p95_ms']):>15s}  "
                f"{f(x['turn_to_edited']['p50_ms'], 0):>5s}/"
                f"{f(x['turn_to_edited']['p99_ms'], 0):<6s}"
                f"  {f(x['rooms_per_core'], 0):>13s}"
            )
        ratios = r["ratios_baseline_over_pipeline"]
        print(
            "         ratio (baseline / pipeline): "
            + ", ".join(f"{k} {f(v, 2)}" for k, v in ratios.items())
        )
