"""Running a service's main coroutine on uvloop (issue 22) or, where it is off or absent,
on asyncio's own event loop.

uvloop's loop is libuv in C: the bridge spends a large share of its CPU in the loop itself
(timers, socket writes, selector wakeups for hundreds of WebSockets), and uvloop does that
work at a fraction of the cost. ``MEDSCRIBE_UVLOOP=false`` turns it off (e.g. to rule it out
when diagnosing a problem); on a platform without a uvloop wheel (Windows) asyncio's loop is
used either way.

Also :func:`cancel_all`, the clean-up of tasks a coroutine started and leaves behind.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Iterable
from typing import Any, TypeVar

T = TypeVar("T")


def loop_factory(use_uvloop: bool) -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's loop factory when wanted and installed, else None (asyncio's default)."""
    if not use_uvloop:
        return None
    try:
        import uvloop
    except ImportError:  # no wheel for this platform: the standard loop works the same
        return None
    return uvloop.new_event_loop


def run(main: Coroutine[Any, Any, T], *, use_uvloop: bool = True) -> T:
    """``asyncio.run(main)`` on the chosen event loop."""
    with asyncio.Runner(loop_factory=loop_factory(use_uvloop)) as runner:
        return runner.run(main)


def loop_name() -> str:
    """The running loop's implementation, for the startup log and the benchmark."""
    loop = asyncio.get_running_loop()
    return type(loop).__module__.split(".")[0]


async def cancel_all(tasks: Iterable[asyncio.Future[Any]]) -> None:
    """Cancel ``tasks`` and wait until each has ended; their errors are dropped (the
    caller is already leaving, e.g. through a ``finally``)."""
    tasks = list(tasks)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
