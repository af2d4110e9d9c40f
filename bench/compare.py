"""Before -> after in one run: the scale benchmark of an older checkout and of this one,
level by level in turn (so both see the same machine load), plus the one-file baseline.

    python -m bench.compare --before /tmp/medscribe-before --levels 100,300,500 --seconds 30

``--before`` is a checkout of the older code (e.g. ``git worktree add`` or
``git archive <commit> | tar -x -C DIR``). Prints one markdown table (CPU ms per
room-second of every process, frame lag, turn overhead, the machine's load), writes the
JSON to bench/results/compare-*.json and a plot to docs/performance-compare.png (needs the
``plots`` extra). Figures only, no pass/fail.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from bench.feeder import aci_path
from bench.procs import REPO_ROOT
from bench.report import save

PROCS = ("stt-bridge", "editor", "notes", "sim-stt", "sim-llm", "feeder")
SERVICES = ("stt-bridge", "editor", "notes")
PLOT = REPO_ROOT / "docs" / "performance-compare.png"


def _run(tree: Path, *args: str, **extra_env: str) -> dict[str, Any]:
    """`python -m bench ARGS` in ``tree``; the JSON it saved."""
    env = dict(os.environ, MEDSCRIBE_ACI_BENCH=str(aci_path()), PYTHONPATH=str(tree))
    env.update(extra_env)
    out = subprocess.run(
        [sys.executable, "-m", "bench", *args], cwd=tree, env=env, capture_output=True,
        text=True, check=False,
    )  # fmt: skip
    m = re.search(r"results: (\S+)", out.stdout)
    if out.returncode or not m:
        raise SystemExit(f"bench in {tree} failed:\n{out.stdout[-2000:]}\n{out.stderr[-4000:]}")
    return dict(json.loads(Path(m.group(1)).read_text()))


def per_room_s(level: dict[str, Any]) -> dict[str, float]:
    """CPU milliseconds per room-second of audio of each process (the machine-independent
    cost: CPU seconds do not grow when other work slows the run down)."""
    room_s = level["rooms"] * level["seconds"]
    return {n: 1000 * p["cpu_s"] / room_s for n, p in level["processes"].items()}


def row(label: str, level: dict[str, Any]) -> dict[str, Any]:
    cpu = per_room_s(level)
    return {
        "label": label, "rooms": level["rooms"], "cpu_ms_per_room_s": cpu,
        "services_ms_per_room_s": sum(cpu.get(n, 0.0) for n in SERVICES),
        "frame_lag_p50_ms": level["frame_lag"]["p50_ms"],
        "frame_lag_p99_ms": level["frame_lag"]["p99_ms"],
        "turn_overhead_p99_ms": level["turn_overhead"]["p99_ms"],
        "note_after_last_edit_p50_ms": level["note_overhead_after_last_edit"]["p50_ms"],
        "note_after_last_edit_p99_ms": level["note_overhead_after_last_edit"]["p99_ms"],
        "note_from_stop_p50_ms": level["note_overhead"]["p50_ms"],
        "note_from_stop_p99_ms": level["note_overhead"]["p99_ms"],
        "turns": f"{level['turns_edited']}/{level['turns_expected']}",
        "load": level["loadavg_1m"],
    }  # fmt: skip


def _fmt(x: Any) -> str:
    return "-" if x is None or x != x else f"{x:.0f}" if abs(x) >= 10 else f"{x:.2f}"


def table(rows: list[dict[str, Any]]) -> str:
    head = ("| run | rooms | " + " | ".join(f"{n} ms/room-s" for n in PROCS)
            + " | services ms/room-s | frame lag p50 / p99 ms | turn overhead p99 ms"
            " | note after last edit p50 / p99 ms | turns edited | load |")  # fmt: skip
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in rows:
        cpu = r["cpu_ms_per_room_s"]
        lines.append(
            f"| {r['label']} | {r['rooms']} | "
            + " | ".join(_fmt(cpu.get(n)) for n in PROCS)
            + f" | {_fmt(r['services_ms_per_room_s'])}"
            f" | {_fmt(r['frame_lag_p50_ms'])} / {_fmt(r['frame_lag_p99_ms'])}"
            f" | {_fmt(r['turn_overhead_p99_ms'])}"
            f" | {_fmt(r['note_after_last_edit_p50_ms'])}"
            f" / {_fmt(r['note_after_last_edit_p99_ms'])}"
            f" | {r['turns']} | {r['load'][0]:.1f}–{r['load'][-1]:.1f} |"
        )
    return "\n".join(lines)


def plot(rows: list[dict[str, Any]], baseline: dict[str, Any] | None, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.5))
    for label, style in (("before", "--"), ("after, no uvloop", ":"), ("after", "-")):
        rs = sorted((r for r in rows if r["label"] == label), key=lambda r: r["rooms"])
        if not rs:
            continue
        x = [r["rooms"] for r in rs]
        ax1.plot(x, [r["frame_lag_p50_ms"] for r in rs], style, marker="o",
                 label=f"{label}: frame lag p50")  # fmt: skip
        ax1.plot(x, [r["frame_lag_p99_ms"] for r in rs], style, marker="^",
                 label=f"{label}: frame lag p99")  # fmt: skip
        ax1.plot(x, [r["turn_overhead_p99_ms"] for r in rs], style, marker="s",
                 label=f"{label}: turn overhead p99")  # fmt: skip
        for n in SERVICES:
            ax2.plot(x, [r["cpu_ms_per_room_s"].get(n, 0.0) for r in rs], style, marker="o",
                     label=f"{label}: {n}")  # fmt: skip
    if baseline is not None:
        b = baseline["baseline"]
        rooms = baseline["pipeline"]["rooms"]
        ms = 1000 * b["cpu_core_total"] / rooms  # CPU share of one core / room = ms per room-s
        ax2.scatter([rooms], [ms], marker="*", s=150, color="black",
                    label="one-file baseline (all)")  # fmt: skip
        p99 = b["turn_overhead"]["p99_ms"]
        if p99 is not None and p99 > 0:
            ax1.scatter([rooms], [p99], marker="*", s=150, color="black",
                        label="one-file baseline: turn overhead p99")  # fmt: skip
    ax1.axhline(100, color="grey", lw=0.8)
    ax1.set(xlabel="rooms", ylabel="ms", yscale="log", title="Latency (log scale)")
    ax2.set(xlabel="rooms", ylabel="CPU ms per room-second", title="CPU per service")
    ax1.legend(fontsize=7)
    ax2.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--before", type=Path, required=True, help="Checkout of the old code.")
    parser.add_argument("--levels", default="100,300,500")
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--latency", type=float, default=1.0)
    parser.add_argument("--baseline-rooms", type=int, default=10, help="0 = skip the baseline.")
    parser.add_argument(
        "--no-uvloop-too", action="store_true",
        help="Also run this checkout with MEDSCRIBE_UVLOOP=false (uvloop's share).",
    )  # fmt: skip
    a = parser.parse_args()
    common = ("--seconds", str(a.seconds), "--latency", str(a.latency))
    rows: list[dict[str, Any]] = []
    for rooms in (int(x) for x in a.levels.split(",")):
        variants = [("before", a.before.resolve(), "true"), ("after", REPO_ROOT, "true")]
        if a.no_uvloop_too:
            variants.insert(1, ("after, no uvloop", REPO_ROOT, "false"))
        for label, tree, uv in variants:
            args = ("scale", "--levels", str(rooms), *common)
            level = _run(tree, *args, MEDSCRIBE_UVLOOP=uv)["levels"][0]
            rows.append(row(label, level))
            print(table(rows[-1:]).splitlines()[-1], flush=True)
    baseline = None
    if a.baseline_rooms:
        b = _run(REPO_ROOT, "baseline", "--rooms", str(a.baseline_rooms), "--seconds",
                 str(a.seconds), "--latencies", str(a.latency))  # fmt: skip
        baseline = b["rows"][0]
        rows.append(row("after (baseline run)", baseline["pipeline"]))
    print(table(rows))
    if baseline is not None:
        p = baseline["pipeline"]
        bcpu = baseline["baseline"]["cpu_core_total"]
        svc = sum(p["processes"][n]["cpu_core"] for n in SERVICES)
        print(f"rooms per core at {p['rooms']} rooms: pipeline services "
              f"{p['rooms'] / svc:.0f}, one-file baseline {p['rooms'] / bcpu:.0f} "
              f"({bcpu / svc:.2f}x)")  # fmt: skip
    try:
        plot(rows, baseline, PLOT)
        print(f"plot: {PLOT}")
    except ImportError:
        print("plot skipped: matplotlib missing (pip install -e '.[plots]')")
    print(f"results: {save('compare', {'rows': rows, 'baseline': baseline})}")


if __name__ == "__main__":
    main()
