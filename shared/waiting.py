"""Interruptible sleeps: wait a while, but wake at once when a stop (or wake) event is set.

One helper instead of a hand-rolled ``wait_for(event.wait(), t)`` in every loop, so the
timeout handling (and not leaking the inner task) is right in one place.
"""

from __future__ import annotations

import asyncio
import contextlib


async def sleep_or_stop(stop: asyncio.Event, seconds: float | None) -> bool:
    """Wait up to ``seconds`` (None: without a limit) for ``stop``.

    Returns ``stop.is_set()`` at the end: True if it was set already or during the wait,
    False if the time ran out. ``seconds <= 0`` still yields to the loop once, so a loop
    that calls this never starves the other tasks.
    """
    if seconds is not None and seconds <= 0:
        await asyncio.sleep(0)
        return stop.is_set()
    # wait_for cancels and awaits its inner task on timeout: nothing is left running.
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
    return stop.is_set()


async def first_of(*events: asyncio.Event, timeout: float) -> None:
    """Wait until one of ``events`` is set, at most ``timeout`` seconds (no error when the
    time runs out); the waiters are cancelled on the way out."""
    if any(e.is_set() for e in events):
        return
    waiters = [asyncio.ensure_future(e.wait()) for e in events]
    try:
        await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waiters:
            w.cancel()
