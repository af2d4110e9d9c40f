"""Load the meaning checks' NLP pipeline when a service starts, not on its first note.

Building medspaCy's pipeline costs about 0.9 s of CPU once per process; a service that
checks notes or edits turns pays it at start, in a thread, while it connects and reads
its streams, so the first visit of the day is not the slow one. A failure is logged by
type only and the pipeline then loads on first use as before.
"""

from __future__ import annotations

import asyncio
import time

from shared.evidence.assertion import mentions, pipeline
from shared.logging import get_logger

log = get_logger(__name__)


def warm_up() -> float:
    """Builds the pipeline and reads one sentence; the CPU seconds this thread spent."""
    start = time.thread_time()
    pipeline()
    mentions("No fever, has a cough.")  # first pass through every component
    return time.thread_time() - start


async def warm_meaning_checks() -> None:
    try:
        cpu_s = await asyncio.to_thread(warm_up)
    except Exception as err:  # never stops a service: the checks load on first use instead
        log.warning("meaning_checks_not_loaded", error=type(err).__name__)
        return
    log.info("meaning_checks_ready", cpu_ms=round(cpu_s * 1000))
