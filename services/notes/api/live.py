"""Live follow of an encounter as Server-Sent Events, read from the Redis streams.

Sources: ``ms:partials:{id}`` (PartialTurn, the words as they are heard),
``ms:turns:edited`` filtered to this encounter (EditedTurn, each finished turn after the
LLM edit) and the encounter row's status, polled once a second (status changes come from
several services, and the row is where they all land).

Events: ``status`` ``{"status": …}`` first and on every change; ``partial``
``{"text", "at_ms"}``; ``turn`` ``{seq, speaker, start_ms, end_ms, text, original_text,
edit_status, flags}``; ``waiting`` ``{"turns", "since_ms"}`` when the editor marks turns of
the visit as waiting for LLM quota (read with the status poll) and ``{"turns": 0}`` once
the mark is gone; ``end`` once the encounter reaches a final status, after which the
stream closes. A ``: heartbeat`` comment every ~15 s keeps proxies from closing an idle
stream. Each data event carries ``id: p=<entry>;e=<entry>`` (the positions in both
streams), so a browser's EventSource resumes without loss after a reconnect
(``Last-Event-ID``).
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from redis.exceptions import ResponseError

from services.notes.fields import pick
from services.notes.status import EncounterStatus
from shared.contracts import (
    EditedTurn,
    MalformedEntry,
    PartialTurn,
    QuotaWait,
    StreamNames,
    decode,
    flag_dicts,
)
from shared.logging import get_logger
from shared.streams import is_unblocked

log = get_logger(__name__)
_Live = TypeVar("_Live", PartialTurn, EditedTurn)  # the entries a follow shows

# A follow ends once the encounter reaches one of these.
FINAL_STATUSES = frozenset(
    {
        EncounterStatus.READY,
        EncounterStatus.NEEDS_REVIEW,
        EncounterStatus.SIGNED,
        EncounterStatus.FAILED,
        EncounterStatus.PURGED,  # its content is gone: nothing more will come
    }
)
_ENTRY_ID = re.compile(r"^\d{1,20}-\d{1,20}$")
_LAST_EVENT_ID = re.compile(r"^p=(\d{1,20}-\d{1,20});e=(\d{1,20}-\d{1,20})$")
READ_COUNT = 200


@dataclass
class Positions:
    """Where to continue reading each stream (exclusive)."""

    partials: str
    edited: str

    def event_id(self) -> str:
        return f"p={self.partials};e={self.edited}"


def parse_last_event_id(value: str | None) -> Positions | None:
    """Positions from a Last-Event-ID header we issued; None when absent or foreign."""
    if not value:
        return None
    match = _LAST_EVENT_ID.match(value.strip())
    return Positions(match.group(1), match.group(2)) if match else None


async def _tail(redis: Any, stream: str) -> str:
    """The id of a stream's newest entry ("0-0" when empty), so we read only what follows."""
    newest = await redis.xrevrange(stream, count=1)
    if not newest:
        return "0-0"
    raw = newest[0][0]
    return raw.decode() if isinstance(raw, bytes) else str(raw)


async def current_positions(redis: Any, names: StreamNames, encounter_id: str) -> Positions:
    return Positions(
        partials=await _tail(redis, names.partials(encounter_id)),
        edited=await _tail(redis, names.edited),
    )


def format_event(event: str, data: dict[str, Any], event_id: str | None = None) -> bytes:
    """One SSE frame (data is single-line JSON, so no line splitting is needed)."""
    lines = [f"event: {event}", f"data: {json.dumps(data, separators=(',', ':'))}"]
    if event_id:
        lines.append(f"id: {event_id}")
    return ("\n".join(lines) + "\n\n").encode()


HEARTBEAT = b": heartbeat\n\n"


def _turn_payload(turn: EditedTurn) -> dict[str, Any]:
    return {
        **pick(turn, ("seq", "speaker", "start_ms", "end_ms")),
        "text": turn.edited_text or turn.text,
        "original_text": turn.text,
        "edit_status": turn.edit_status,
        "flags": flag_dicts(turn.flags),
    }


def _id(raw: Any) -> str:
    return raw.decode() if isinstance(raw, bytes) else str(raw)


async def follow(
    redis: Any,
    names: StreamNames,
    encounter_id: str,
    read_status: Callable[[], Awaitable[str | None]],
    start: Positions,
    *,
    stopping: asyncio.Event,
    heartbeat_s: float = 15.0,
    poll_s: float = 1.0,
) -> AsyncIterator[bytes]:
    """Yield SSE frames until the encounter is final, the server stops or the client leaves."""
    pos = Positions(start.partials, start.edited)
    partials, edited = names.partials(encounter_id), names.edited
    status = await read_status()
    waiting: QuotaWait | None = None
    yield format_event("status", {"status": status}, pos.event_id())
    last_sent = last_poll = time.monotonic()
    block_ms = max(int(poll_s * 1000), 10)
    while not stopping.is_set():
        if status is None or status in FINAL_STATUSES:
            yield format_event("end", {"status": status})
            return
        try:
            replies = await redis.xread(
                {partials: pos.partials, edited: pos.edited}, count=READ_COUNT, block=block_ms
            )
        except ResponseError as err:
            if not is_unblocked(err):  # a cluster failover ended the blocked read: again
                raise
            continue
        for stream_raw, entries in replies or []:
            stream = _id(stream_raw)
            for entry_raw, fields in entries:
                entry_id = _id(entry_raw)
                if stream == partials:
                    pos.partials = entry_id
                    frame = _partial_frame(fields, encounter_id, pos)
                else:
                    pos.edited = entry_id
                    frame = _turn_frame(fields, encounter_id, pos)
                if frame is not None:
                    yield frame
                    last_sent = time.monotonic()
        now = time.monotonic()
        if now - last_poll >= poll_s:
            last_poll = now
            new_status = await read_status()
            if new_status != status:
                status = new_status
                yield format_event("status", {"status": status}, pos.event_id())
                last_sent = now
            mark = QuotaWait.parse(await redis.get(names.editor_quota_wait(encounter_id)))
            if mark != waiting:
                waiting = mark
                body = mark.model_dump() if mark else {"turns": 0}
                yield format_event("waiting", body, pos.event_id())
                last_sent = now
        if now - last_sent >= heartbeat_s:
            yield HEARTBEAT
            last_sent = now


def _entry_of(fields: Any, model: type[_Live], encounter_id: str) -> _Live | None:
    """The entry, or None when it is malformed (logged and skipped: one bad entry must not
    end the follow) or belongs to another encounter."""
    try:
        entry = decode(fields, model)
    except MalformedEntry as err:
        log.warning("live_entry_skipped", encounter_id=encounter_id, reason=str(err)[:120])
        return None
    return entry if entry.encounter_id == encounter_id else None


def _partial_frame(fields: Any, encounter_id: str, pos: Positions) -> bytes | None:
    partial = _entry_of(fields, PartialTurn, encounter_id)
    if partial is None:
        return None
    return format_event("partial", {"text": partial.text, "at_ms": partial.at_ms}, pos.event_id())


def _turn_frame(fields: Any, encounter_id: str, pos: Positions) -> bytes | None:
    turn = _entry_of(fields, EditedTurn, encounter_id)
    if turn is None:
        return None
    return format_event("turn", _turn_payload(turn), pos.event_id())
