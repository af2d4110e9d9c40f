"""Real-time pacing of one session's audio, with a bounded catch-up.

A session may send audio no faster than ``catchup`` x real time, and never more than
``max_lead_s`` seconds ahead of its own wall clock (the server closes a session that runs
too far ahead with 3007). A backlog (after a reconnect or a capture stall) therefore drains
quickly but smoothly, never in one burst. ``pace_factor`` scales the clock for simulators
that run faster than real time.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import KW_ONLY, dataclass, field


@dataclass(eq=False)
class Pacer:
    bytes_per_s: float
    _: KW_ONLY
    clock: Callable[[], float] = time.monotonic  # a test's clock
    pace_factor: float = 1.0
    catchup: float = 2.0
    max_lead_s: float = 20.0
    t0: float = field(init=False)
    sent_bytes: int = field(init=False, default=0)

    def __post_init__(self) -> None:
        self.t0 = self.clock()

    def restart(self) -> None:
        self.t0 = self.clock()
        self.sent_bytes = 0

    @property
    def sent_s(self) -> float:
        return self.sent_bytes / self.bytes_per_s

    def elapsed_s(self) -> float:
        """Session time in audio seconds (wall time x pace factor)."""
        return (self.clock() - self.t0) * self.pace_factor

    def lead_s(self) -> float:
        return self.sent_s - self.elapsed_s()

    def delay(self) -> float:
        """Wall seconds to wait before the next chunk may be sent (0 = now).

        The audio already sent must be covered by the allowance; the next chunk itself is
        one message of lead, so the first chunk of a session goes out at once.
        """
        need = self.sent_s
        if need <= 0:
            return 0.0
        elapsed = self.elapsed_s()
        allowed = min(elapsed * self.catchup, elapsed + self.max_lead_s)
        if need <= allowed:
            return 0.0
        t_needed = max(need / self.catchup, need - self.max_lead_s)
        return max(0.0, (t_needed - elapsed) / self.pace_factor)

    def sent(self, nbytes: int) -> None:
        self.sent_bytes += nbytes
