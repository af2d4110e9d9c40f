"""Exponential backoff, one implementation for every retry loop.

``exponential`` gives the ceiling for a retry (doubling from ``initial``, capped);
``equal_jitter`` spreads a delay over [ceiling/2, ceiling] so replicas that failed together
do not retry in lockstep. Callers pick their own attempt indexing and jitter.
"""

from __future__ import annotations

import random

# 2.0**1023 is the largest power of two a float holds: beyond it ``2**attempt`` cannot be
# converted (OverflowError), and with any positive ``initial`` the cap has long been reached.
_MAX_EXPONENT = 1023


def exponential(attempt: int, initial: float, cap: float) -> float:
    """``min(cap, initial * 2**attempt)``; ``attempt`` 0 gives ``initial`` (if under the cap)."""
    return float(min(cap, initial * 2 ** min(attempt, _MAX_EXPONENT)))


def equal_jitter(ceiling: float, rng: random.Random) -> float:
    """Half of ``ceiling`` fixed, half random: uniform in [ceiling/2, ceiling]."""
    return ceiling / 2 + rng.uniform(0, ceiling / 2)
