"""Small helpers shared by the benchmarks: percentiles, per-process CPU and memory from /proc."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field

_TICK = os.sysconf("SC_CLK_TCK")


def pct(values: list[float], q: float) -> float:
    """Nearest-rank percentile (nan when empty)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def summary(values_s: list[float]) -> dict[str, float]:
    """p50/p95/p99/max in milliseconds plus the sample count."""
    ms = [v * 1000 for v in values_s]
    return {
        "n": len(ms),
        "p50_ms": pct(ms, 0.50),
        "p95_ms": pct(ms, 0.95),
        "p99_ms": pct(ms, 0.99),
        "max_ms": max(ms, default=float("nan")),
    }


def _cpu_s(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        parts = f.read().rsplit(")", 1)[1].split()
    return (int(parts[11]) + int(parts[12])) / _TICK  # utime + stime


def _rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


@dataclass
class ProcWatch:
    """CPU share (of one core) and peak RSS of named processes between start() and stop()."""

    pids: dict[str, int]
    cpu0: dict[str, float] = field(default_factory=dict)
    cpu_last: dict[str, float] = field(default_factory=dict)  # a process may exit first
    peak_mb: dict[str, float] = field(default_factory=dict)
    wall0: float = 0.0
    result: dict[str, dict[str, float]] = field(default_factory=dict)

    def start(self) -> None:
        self.wall0 = time.monotonic()
        for n, p in self.pids.items():
            try:
                self.cpu0[n] = self.cpu_last[n] = _cpu_s(p)
            except (OSError, IndexError, ValueError):
                pass

    def sample(self) -> None:
        for n, p in self.pids.items():
            try:
                self.peak_mb[n] = max(self.peak_mb.get(n, 0.0), _rss_mb(p))
                self.cpu_last[n] = _cpu_s(p)
            except (OSError, IndexError, ValueError):
                pass

    def stop(self) -> dict[str, dict[str, float]]:
        wall = time.monotonic() - self.wall0
        self.sample()
        for n in self.pids:
            cpu = self.cpu_last.get(n, self.cpu0.get(n, 0.0)) - self.cpu0.get(n, 0.0)
            self.result[n] = {
                "cpu_core": cpu / wall if wall > 0 else float("nan"),
                "cpu_s": cpu,  # total CPU seconds (per room and audio second: the cost)
                "rss_mb": self.peak_mb.get(n, float("nan")),
            }
        return self.result
