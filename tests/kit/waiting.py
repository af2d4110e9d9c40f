"""One way to wait for a condition: ``eventually`` (async) and ``eventually_sync``.

Timeouts only bound a hang (the machine running the suite is shared and noisy), so callers
pass generous ones; a failure says what was awaited, for how long, and what was last seen.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["eventually", "eventually_sync"]

_NOTHING: Any = object()  # no value from the check yet


async def eventually(
    check: Callable[[], Any],
    timeout: float = 30.0,
    every: float = 0.05,
    *,
    what: str | None = None,
    retry_on: tuple[type[Exception], ...] = (),
) -> Any:
    """Call ``check`` (sync or async) every ``every`` s until it returns a truthy value,
    and return that value; an ``AssertionError`` after ``timeout`` s.

    The timeout also cancels a ``check`` that hangs. An exception from ``check`` fails at
    once (a broken check should not cost the whole timeout) unless it is one of
    ``retry_on``: those count as "not yet", and the last one is reported on failure.
    """
    loop = asyncio.get_running_loop()
    started = loop.time()
    last: Any = _NOTHING
    error: Exception | None = None
    try:
        async with asyncio.timeout(timeout) as deadline:
            while True:
                try:
                    got = check()
                    if inspect.isawaitable(got):
                        got = await got
                except retry_on as exc:
                    error = exc
                else:
                    if got:
                        return got
                    last, error = got, None
                await asyncio.sleep(every)
    except TimeoutError as exc:
        if not deadline.expired():
            raise  # the check's own TimeoutError, not ours
        waited = loop.time() - started
        raise AssertionError(_failure(check, what, timeout, waited, last, error)) from (
            error or exc
        )


def eventually_sync(
    check: Callable[[], Any],
    timeout: float = 30.0,
    every: float = 0.05,
    *,
    what: str | None = None,
    retry_on: tuple[type[Exception], ...] = (),
) -> Any:
    """``eventually`` for tests without an event loop (a hanging ``check`` is not cut)."""
    started = time.monotonic()
    last: Any = _NOTHING
    error: Exception | None = None
    while True:
        try:
            got = check()
        except retry_on as exc:
            error = exc
        else:
            if got:
                return got
            last, error = got, None
        waited = time.monotonic() - started
        if waited > timeout:
            raise AssertionError(_failure(check, what, timeout, waited, last, error)) from error
        time.sleep(every)


def _failure(
    check: Callable[[], Any],
    what: str | None,
    timeout: float,
    waited: float,
    last: Any,
    error: Exception | None,
) -> str:
    if error is not None:
        seen = f"last exception: {error!r}"
    elif last is _NOTHING:
        seen = "the check never returned"  # it hung, and the timeout cancelled it
    else:
        seen = f"last value: {last!r}"
    return f"not within {timeout} s (waited {waited:.1f} s): {what or _describe(check)}; {seen}"


def _describe(check: Callable[[], Any]) -> str:
    """A lambda's name says nothing: name its source line instead."""
    code = getattr(check, "__code__", None)
    name = getattr(check, "__qualname__", repr(check))
    if code is None:
        return name
    where = f"{Path(code.co_filename).name}:{code.co_firstlineno}"
    try:
        source = inspect.getsource(check).strip()
    except (OSError, TypeError):
        return f"{name} ({where})"
    first = source.splitlines()[0] if source else name
    return f"{first} ({where})" if name.endswith("<lambda>") else f"{name} ({where})"
