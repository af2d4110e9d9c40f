"""Feeds the live view: partials and edited turns of the encounter being recorded.

Read-only plain XREADs (no consumer group: the view must never take entries from the
notes service). Redis trouble only pauses the view; capture is unaffected.

With a room's own credentials the visit's ``live:<encounter>`` stream also carries the
clinic server's word to the room (``LiveNotice``): a refused start, and where the server
wrote the visit's files. Both land in :class:`ServerWord`, which the capture run waits on.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import AuthenticationError, RedisError

from services.capture.live_view import LiveView
from shared.contracts import (
    EditedTurn,
    LiveNotice,
    MalformedEntry,
    PartialTurn,
    StreamNames,
    decode,
)
from shared.logging import get_logger
from shared.redis_acl import is_permission_error
from shared.waiting import sleep_or_stop

log = get_logger(__name__)

# The room's credentials stopped working mid-visit: an admin revoked the room.
REVOKED = "room_revoked"


@dataclass
class ServerWord:
    """What the clinic server told this visit's room (kept by the watcher)."""

    on_refused: Callable[[str], None] = lambda reason: None
    refused: str | None = None  # the gate's reason code
    export_dir: str | None = None
    exported: asyncio.Event = field(default_factory=asyncio.Event)
    answered: asyncio.Event = field(default_factory=asyncio.Event)  # refused or exported

    def take(self, notice: LiveNotice) -> None:
        if notice.kind == "refused" and self.refused is None:
            self.refused = notice.reason or "refused"
            log.warning("encounter_refused_by_server", reason=self.refused)
            self.on_refused(self.refused)
            self.answered.set()
        elif notice.kind == "exported" and notice.export_dir and not self.exported.is_set():
            self.export_dir = notice.export_dir
            self.exported.set()
            self.answered.set()

    def revoked(self) -> None:
        if self.refused is None:
            self.refused = REVOKED
            log.warning("encounter_refused_by_server", reason=REVOKED)
            self.on_refused(REVOKED)
            self.answered.set()


def _entry_type(fields: Any) -> str | None:
    raw = fields.get(b"type", fields.get("type"))
    if raw is None:
        return None
    return raw.decode(errors="replace") if isinstance(raw, bytes) else str(raw)


async def _edited_start(redis: aioredis.Redis, stream: str) -> str:
    """Id after which this encounter's edited turns can appear: the stream's current top."""
    try:
        rows = await redis.xrevrange(stream, count=1)
    except (RedisError, OSError):
        rows = []
    if rows:
        entry_id = rows[0][0]
        return entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)
    # Stream empty or Redis down: from a minute before now (clock skew allowance).
    return f"{max(0, int(time.time() * 1000) - 60_000)}-0"


async def watch_encounter(
    redis: aioredis.Redis,
    names: StreamNames,
    encounter_id: str,
    view: LiveView,
    stop: asyncio.Event,
    block_ms: int = 500,
    own_copy: bool = False,
    word: ServerWord | None = None,
) -> None:
    """Until ``stop``: show partials and edited turns of ``encounter_id``.

    ``own_copy``: logged in with a room's own credentials, which may not read the
    clinic-wide edited-turn stream; the editor copies this visit's turns to
    ``live:<encounter>`` (shared/rooms.py), read from its start.
    """
    partials = names.partials(encounter_id)
    edited = names.live(encounter_id) if own_copy else names.edited
    positions: dict[Any, Any] = {
        partials: "0-0",
        edited: "0-0" if own_copy else await _edited_start(redis, names.edited),
    }
    while not stop.is_set():
        try:
            reply: Any = await redis.xread(positions, count=100, block=block_ms)
        except AuthenticationError:
            # Redis closed the connection and refuses the room's password: revoked.
            if own_copy and word is not None:
                word.revoked()
                return
            await sleep_or_stop(stop, 1.0)
            continue
        except RedisError as err:
            if is_permission_error(err):
                # The room's Redis user may not read transcripts (deploy/users.acl): the
                # view shows the recording state only. Asking again would only be refused.
                log.info("live_view_without_text", reason="redis_user_cannot_read_transcripts")
                return
            await sleep_or_stop(stop, 1.0)
            continue
        except OSError:
            await sleep_or_stop(stop, 1.0)
            continue
        for stream_raw, entries in reply or []:
            stream = stream_raw.decode() if isinstance(stream_raw, bytes) else stream_raw
            for entry_id, fields in entries:
                positions[stream] = entry_id
                try:
                    if stream == partials:
                        view.partial(decode(fields, PartialTurn).text)
                        continue
                    if own_copy and _entry_type(fields) == LiveNotice.__name__:
                        notice = decode(fields, LiveNotice)
                        if word is not None and notice.encounter_id == encounter_id:
                            word.take(notice)
                        continue
                    turn = decode(fields, EditedTurn)
                except MalformedEntry:
                    log.warning("live_view_entry_skipped", stream=stream)
                    continue
                if turn.encounter_id == encounter_id:
                    view.turn(turn)
