"""Removing one encounter's keys from Redis once the visit is durable elsewhere.

Idempotent and safe to interrupt anywhere: every step deletes keys that are no longer
needed, and running it again deletes whatever a crash left. Keys are deleted by their
exact names (:meth:`StreamNames.encounter_keys`) or, for the per-turn and per-entry marks,
found with SCAN and kept only if the whole name matches what the bridge and editor write
for *this* encounter (ids may contain ``:``, so a glob alone could match another visit).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable

import redis.asyncio as aioredis

from shared.contracts import StreamNames

_GLOB_SPECIAL = re.compile(r"([*?\[\]\\])")

# Called with (step, encounter_id) after each step of a release; the tests use it to kill -9
# the releasing process exactly there. Steps: "marks_deleted" here, "archived" and
# "keys_deleted" in the notes service's release job.
StepHook = Callable[[str, str], Awaitable[None]]


def glob_escape(text: str) -> str:
    return _GLOB_SPECIAL.sub(r"\\\1", text)


def owned_key_pattern(names: StreamNames, encounter_id: str) -> re.Pattern[str]:
    """The variable-named keys of this encounter: editor publish marks and results, and
    the bridge's dead-letter marks."""
    p = re.escape(names.prefix)
    e = re.escape(encounter_id)
    return re.compile(
        rf"^{p}(?:editor:published:{e}:\d+"
        rf"|editor:result:[^:]+:{e}:\d+"
        rf"|bridge:dead:{e}:\d+-\d+)$"
    )


async def owned_keys(redis: aioredis.Redis, names: StreamNames, encounter_id: str) -> list[str]:
    """SCAN for this encounter's variable-named keys (one pass over the key space)."""
    match = f"{glob_escape(names.prefix)}*:{glob_escape(encounter_id)}:*"
    pattern = owned_key_pattern(names, encounter_id)
    found: list[str] = []
    async for raw in redis.scan_iter(match=match, count=1000):
        key = raw.decode() if isinstance(raw, bytes) else str(raw)
        if pattern.match(key):
            found.append(key)
    return found


async def release_encounter(
    redis: aioredis.Redis,
    names: StreamNames,
    encounter_id: str,
    *,
    between_steps: StepHook | None = None,
) -> int:
    """Delete every Redis key of the encounter; returns how many existed."""
    removed = 0
    marks = await owned_keys(redis, names, encounter_id)
    for i in range(0, len(marks), 500):
        removed += int(await redis.delete(*marks[i : i + 500]))
    if between_steps is not None:
        await between_steps("marks_deleted", encounter_id)
    # No MULTI: each command is idempotent, and the notes ACL user has no @transaction.
    await redis.srem(names.bridge_active, encounter_id)
    return removed + int(await redis.delete(*names.encounter_keys(encounter_id)))
