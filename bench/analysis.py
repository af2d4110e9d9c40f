"""Joins the simulator's emission log with what arrived downstream into latency figures."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

Emits = tuple[dict[tuple[str, int], float], dict[tuple[str, str], float]]


def load_emits(path: Path) -> Emits:
    """(final emission by (session, turn_order) — the LAST end_of_turn message, which is the
    one a client publishes when finals come twice; first emission of each partial text by
    (session, text hash))."""
    finals: dict[tuple[str, int], float] = {}
    partials: dict[tuple[str, str], float] = {}
    for line in path.read_text().splitlines():
        if not line.strip():
            continue
        row = json.loads(line)
        if row["e"]:
            finals[(row["s"], row["o"])] = max(row["t"], finals.get((row["s"], row["o"]), 0))
        else:
            partials.setdefault((row["s"], row["h"]), row["t"])
    return finals, partials


def turn_delays(emits: Emits, edited: list[tuple[str, int, float]]) -> list[float]:
    """Seconds from the simulator sending each final to its edited turn being shown."""
    finals, _ = emits
    return [t - finals[(s, o)] for s, o, t in edited if (s, o) in finals]


def partial_delays(
    emits: Emits,
    shown: list[tuple[str, str, float]],
    sessions: dict[str, set[str]] | None = None,
    in_flight_s: float | None = None,
) -> list[float]:
    """Seconds from the simulator sending each partial to it being shown. `shown` holds
    (session or encounter, text hash, t); `sessions` maps an encounter to its sessions.
    With `in_flight_s`, only partials sent while an edit of the same session was in flight
    (within `in_flight_s` after one of its finals) count."""
    finals, partials = emits
    by_session: dict[str, list[float]] = defaultdict(list)
    for (s, _), t in finals.items():
        by_session[s].append(t)
    first: dict[tuple[str, str], float] = {}
    for who, h, t in shown:
        first.setdefault((who, h), t)
    out: list[float] = []
    for (who, h), t in first.items():
        for s in sessions.get(who, set()) if sessions is not None else {who}:
            if (s, h) in partials:
                sent = partials[(s, h)]
                if in_flight_s is None or any(0 <= sent - f <= in_flight_s for f in by_session[s]):
                    out.append(t - sent)
                break
    return out


def sessions_of(edited: list[tuple[str, str, int, float]]) -> dict[str, set[str]]:
    by: dict[str, set[str]] = defaultdict(set)
    for eid, s, _, _ in edited:
        by[eid].add(s)
    return by
