"""shared.waiting.sleep_or_stop: an interruptible sleep that says why it ended."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from shared.waiting import sleep_or_stop


def _others() -> set[asyncio.Task[Any]]:
    me = asyncio.current_task()
    return {t for t in asyncio.all_tasks() if t is not me}


async def test_returns_true_promptly_when_set_during_the_wait() -> None:
    stop = asyncio.Event()
    asyncio.get_running_loop().call_later(0.05, stop.set)
    t0 = time.monotonic()
    assert await sleep_or_stop(stop, 30.0) is True
    assert time.monotonic() - t0 < 10.0  # woken by the event, not the 30 s timeout
    assert not _others()


async def test_returns_false_when_the_time_runs_out() -> None:
    stop = asyncio.Event()
    t0 = time.monotonic()
    assert await sleep_or_stop(stop, 0.05) is False
    assert time.monotonic() - t0 >= 0.04  # it did wait
    assert not _others()  # the inner wait was not left running


async def test_returns_true_at_once_when_already_set() -> None:
    stop = asyncio.Event()
    stop.set()
    t0 = time.monotonic()
    assert await sleep_or_stop(stop, 30.0) is True
    assert time.monotonic() - t0 < 10.0


async def test_zero_or_negative_seconds_still_yield_once() -> None:
    stop = asyncio.Event()
    ran: list[int] = []
    asyncio.get_running_loop().call_soon(ran.append, 1)
    assert await sleep_or_stop(stop, 0) is False
    assert ran == [1]  # the loop got a turn
    stop.set()
    assert await sleep_or_stop(stop, -1.0) is True


async def test_none_waits_for_the_event_only() -> None:
    stop = asyncio.Event()
    asyncio.get_running_loop().call_later(0.05, stop.set)
    assert await sleep_or_stop(stop, None) is True


async def test_cancelling_the_caller_leaves_nothing_running() -> None:
    stop = asyncio.Event()
    task = asyncio.create_task(sleep_or_stop(stop, 30.0))
    await asyncio.sleep(0.01)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert task.cancelled()
    assert not _others()
