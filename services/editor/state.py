"""Editor state in Redis: publish-once marks, the result cache, context turns and what each
encounter asked for (model, keyterms).

Keys live under the stream prefix (``{prefix}editor:…``) and expire, so nothing here
needs cleaning up by hand. Turn text stored for context expires after a few hours.
"""

from __future__ import annotations

import json
import time
from dataclasses import KW_ONLY, asdict, dataclass, field
from typing import Any

import redis.asyncio as aioredis

from shared import rooms
from shared.contracts import (
    EditedTurn,
    EditStatus,
    EncounterStarted,
    FinalTurn,
    MalformedEntry,
    StreamNames,
    decode,
    encode,
)

CONTEXT_TTL_S = 6 * 3600
ENCOUNTER_TTL_S = 3 * 86400
CONTROL_SCAN = 5000  # control entries searched backwards for a missed EncounterStarted
MISS_MEMORY_S = 30.0  # an encounter not found is not searched for again this soon

# XADD + mark + XACK of the raw turn in one atomic step: a redelivered turn is never
# published twice, and the raw turn is acknowledged exactly when its edit is written. (A
# separate XACK could land on a newly promoted primary while the edit went to the old one
# and was lost with it: the turn would vanish from the note.)
# KEYS = mark, edited stream, raw turns stream[, the room's copy]; ARGV = ttl_s, group,
# raw entry id ('' = nothing to ack), then field/value pairs. Returns the entry id or
# false. A visit recorded with a room's own credentials gets a bounded copy of its turns
# that only that room may read (shared/rooms.py): its live view.
_PUBLISH_ONCE = """
if ARGV[3] ~= '' then redis.call('XACK', KEYS[3], ARGV[2], ARGV[3]) end
if redis.call('EXISTS', KEYS[1]) == 1 then return false end
local id = redis.call('XADD', KEYS[2], '*', unpack(ARGV, 4))
redis.call('SET', KEYS[1], id, 'EX', tonumber(ARGV[1]))
if KEYS[4] then
  redis.call('XADD', KEYS[4], 'MAXLEN', '~', '500', '*', unpack(ARGV, 4))
end
return id
"""


@dataclass(frozen=True)
class EditOutcome:
    """What the editor decided for one turn."""

    edited_text: str
    status: EditStatus
    model: str
    reason: str | None = None
    request_id: str | None = None
    gateway_s: float = 0.0  # this turn's share of gateway time
    cached: bool = False


@dataclass(frozen=True)
class EncounterInfo:
    model: str | None
    keyterms: tuple[str, ...] = ()


@dataclass(frozen=True)
class Prepared:
    """What Redis holds for a turn about to be edited, read in one round trip."""

    published: bool
    cached: EditOutcome | None
    encounter: EncounterInfo | None  # None: not recorded here (the control stream knows)
    context: tuple[str, ...]  # text of the turns just before it, oldest first


def _outcome_of(raw: bytes | str | None) -> EditOutcome | None:
    if raw is None:
        return None
    try:
        return EditOutcome(**{**json.loads(raw), "cached": True})
    except (ValueError, TypeError):
        return None  # unreadable cache entry: edit again


def _info_of(raw: bytes | str) -> EncounterInfo:
    data = json.loads(raw)
    return EncounterInfo(data.get("model"), tuple(data.get("keyterms", ())))


def _context_seqs(first_seq: int, count: int) -> list[str]:
    return [str(s) for s in range(max(first_seq - count, 0), first_seq)]


@dataclass(eq=False)
class EditorState:
    redis: aioredis.Redis
    names: StreamNames
    _: KW_ONLY
    prompt_version: str
    result_ttl_s: int
    mark_ttl_s: int = 7 * 86400
    _misses: dict[str, float] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        self._publish = self.redis.register_script(_PUBLISH_ONCE)

    def _mark(self, turn: FinalTurn) -> str:
        return self.names.editor_published(turn.encounter_id, turn.seq)

    # -- before an edit -----------------------------------------------------------------
    async def prepare(self, turn: FinalTurn, *, remember: bool, context_turns: int) -> Prepared:
        """Everything the editor reads before an edit, in one pipeline: whether the turn
        was published, its cached edit, the encounter's parameters and the turns before
        it; with ``remember`` the turn is also kept as context for the turns after it."""
        context_key = self._context_key(turn.encounter_id)
        seqs = _context_seqs(turn.seq, context_turns)
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.exists(self._mark(turn))
            pipe.get(self._result_key(turn))
            pipe.get(self._encounter_key(turn.encounter_id))
            if seqs:
                pipe.hmget(context_key, seqs)
            if remember:
                pipe.hset(context_key, str(turn.seq), turn.text)
                pipe.expire(context_key, CONTEXT_TTL_S)
            replies: list[Any] = await pipe.execute()
        published, result, encounter = replies[:3]
        context = replies[3] if seqs else []
        return Prepared(
            published=bool(published),
            cached=_outcome_of(result),
            encounter=None if encounter is None else _info_of(encounter),
            context=tuple(v.decode() for v in context if v is not None),
        )

    # -- publish once -------------------------------------------------------------------
    async def publish_once(
        self, edited: EditedTurn, ack: tuple[str, str] | None = None
    ) -> str | None:
        """XADD to the edited stream unless this (encounter, seq) was published before;
        ``ack`` = (group, raw entry id) is acknowledged on the raw turns stream in the same
        step, published now or before."""
        fields = encode(edited)
        group, entry_id = ack or ("", "")
        args: list[Any] = [self.mark_ttl_s, group, entry_id]
        for key, value in fields.items():
            args += [key, value]
        keys = [self._mark(edited), self.names.edited, self.names.turns]
        if rooms.room_of_encounter(edited.encounter_id) is not None:
            keys.append(self.names.live(edited.encounter_id))
        entry_id = await self._publish(keys=keys, args=args)
        if not entry_id:
            return None
        return entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)

    # -- result cache -------------------------------------------------------------------
    def _result_key(self, turn: FinalTurn) -> str:
        return self.names.editor_result(self.prompt_version, turn.encounter_id, turn.seq)

    async def store_result(self, turn: FinalTurn, outcome: EditOutcome) -> None:
        if outcome.status == "fallback":
            return  # a later redelivery may still get a real edit
        await self.redis.set(
            self._result_key(turn), json.dumps(asdict(outcome)), ex=self.result_ttl_s
        )

    # -- context turns ------------------------------------------------------------------
    def _context_key(self, encounter_id: str) -> str:
        return self.names.editor_context(encounter_id)

    # -- encounter parameters -----------------------------------------------------------
    def _encounter_key(self, encounter_id: str) -> str:
        return self.names.editor_encounter(encounter_id)

    async def record_encounter(self, started: EncounterStarted) -> None:
        info = {"model": started.llm_model, "keyterms": list(started.stt.keyterms)}
        await self.redis.set(
            self._encounter_key(started.encounter_id), json.dumps(info), ex=ENCOUNTER_TTL_S
        )

    async def encounter_from_control(self, encounter_id: str) -> EncounterInfo:
        """The encounter's parameters from its EncounterStarted (recorded for next time);
        a miss is remembered for a while, so a stream of turns does not rescan each time."""
        now = time.monotonic()
        if self._misses.get(encounter_id, 0.0) > now:
            return EncounterInfo(None)
        entries: Any = await self.redis.xrevrange(self.names.control, count=CONTROL_SCAN)
        for _entry_id, fields in entries:
            if fields.get(b"type") != b"EncounterStarted":
                continue
            try:
                started = decode(fields, EncounterStarted)
            except MalformedEntry:
                continue
            if started.encounter_id == encounter_id:
                await self.record_encounter(started)
                return EncounterInfo(started.llm_model, started.stt.keyterms)
        if len(self._misses) > 10_000:
            self._misses = {k: t for k, t in self._misses.items() if t > now}
        self._misses[encounter_id] = now + MISS_MEMORY_S
        return EncounterInfo(None)
