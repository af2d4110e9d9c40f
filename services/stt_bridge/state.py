"""Encounter state in Redis, so that any replica can resume an encounter exactly.

One hash per encounter (``{prefix}bridge:enc:{id}``) holds: the EncounterStarted message,
the next encounter ``seq``, the resume position (encounter audio bytes just after the last
published final) with a stream checkpoint at or before it, the last published
``(session id, turn_order)``, the current STT session and its audio offset, and the stop
frame once any replica has read ``EncounterStopped``. A set lists the active encounters so
a replica that starts later finds encounters whose owner died.

Every write an owner makes is fenced by its lease token inside a Lua script, and a final
turn is XADDed in the same script that advances ``seq`` and the resume position: a turn is
published exactly when the state says it was.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any, NoReturn

import redis.asyncio as aioredis

from shared.contracts import (
    EncounterFailed,
    EncounterStarted,
    EncounterTranscribed,
    FinalTurn,
    StreamNames,
    SttSessionUsage,
    encode,
)
from shared.errors import MedscribeError
from shared.streams import ReplicaWait, WaitStats, eval_replicated

ACTIVE, DONE, FAILED = "active", "done", "failed"

_FENCE = "if redis.call('GET', KEYS[1]) ~= ARGV[1] then return -1 end\n"
# Writes that advance the encounter: also refused (-2) unless Redis holds the ``seq`` the
# owner expects (ARGV[2]), so a lost write is noticed (StateBehind) instead of skipped.
_FENCE_SEQ = (
    _FENCE
    + """
local seq = tonumber(redis.call('HGET', KEYS[2], 'next_seq') or '0')
if seq ~= tonumber(ARGV[2]) then return -2 end
"""
)
_PUBLISH_TURN = (
    _FENCE_SEQ
    + """\
if redis.call('HGET', KEYS[2], 'last_sid') == ARGV[3]
   and tonumber(redis.call('HGET', KEYS[2], 'last_to') or '-1') >= tonumber(ARGV[4]) then
  return 0
end
redis.call('XADD', KEYS[3], '*', 'v', ARGV[5], 'type', ARGV[6], 'data', ARGV[7])
redis.call('HSET', KEYS[2], 'next_seq', seq + 1, 'last_sid', ARGV[3], 'last_to', ARGV[4],
  'resume_pos', ARGV[8], 'ckpt_id', ARGV[9], 'ckpt_pos', ARGV[10], 'ckpt_seq', ARGV[11])
return 1
"""
)
_GAP = (
    _FENCE_SEQ
    + """\
if ARGV[4] ~= '' and redis.call('HGET', KEYS[2], 'last_sid') == ARGV[3]
   and tonumber(redis.call('HGET', KEYS[2], 'last_to') or '-1') >= tonumber(ARGV[4]) then
  return 0
end
local gaps = redis.call('HGET', KEYS[2], 'gaps')
redis.call('HSET', KEYS[2], 'next_seq', seq + 1,
  'gaps', (gaps and gaps ~= '') and (gaps .. ',' .. ARGV[2]) or ARGV[2])
if ARGV[4] ~= '' then
  redis.call('HSET', KEYS[2], 'last_sid', ARGV[3], 'last_to', ARGV[4])
end
return 1
"""
)
# Put back what Redis lost of this owner's newest writes (a failover to a replica that
# had not received them): the turns, in order, and the state after the last of them.
_RESTORE = (
    _FENCE_SEQ
    + """\
local i = 4
for _ = 1, tonumber(ARGV[3]) do
  redis.call('XADD', KEYS[3], '*', 'v', ARGV[i], 'type', ARGV[i + 1], 'data', ARGV[i + 2])
  i = i + 3
end
redis.call('HSET', KEYS[2], unpack(ARGV, i))
return 1
"""
)
_SET = (
    _FENCE
    + """
redis.call('HSET', KEYS[2], unpack(ARGV, 2))
return 1
"""
)
_SESSION_USAGE = (
    _FENCE
    + """
redis.call('RPUSH', KEYS[2], ARGV[2])
redis.call('HDEL', KEYS[3], 'sess_id')
return 1
"""
)
_FINISH = (
    _FENCE
    + """
redis.call('XADD', KEYS[3], '*', 'v', ARGV[2], 'type', ARGV[3], 'data', ARGV[4])
redis.call('HSET', KEYS[2], 'status', ARGV[5])
redis.call('SREM', KEYS[4], ARGV[6])
redis.call('DEL', KEYS[1])
redis.call('EXPIRE', KEYS[2], ARGV[7])
redis.call('EXPIRE', KEYS[5], ARGV[7])
return 1
"""
)


class LeaseLost(MedscribeError):
    """This replica no longer owns the encounter; stop touching it (message: its id)."""


class StateBehind(LeaseLost):
    """Redis holds an older ``next_seq`` than this owner wrote: it lost our newest writes
    (asynchronous replication, a failover). Handled like a lost lease unless the owner can
    put them back (:meth:`EncounterStore.restore`)."""

    def __init__(self, encounter_id: str, stored_seq: int) -> None:
        super().__init__(encounter_id)
        self.stored_seq = stored_seq


@dataclass
class EncounterState:
    encounter_id: str
    started: EncounterStarted | None
    status: str = ACTIVE
    next_seq: int = 0
    resume_pos: int = 0  # encounter audio bytes: resume streaming here
    ckpt_id: str = "0-0"  # read the audio stream after this id ...
    ckpt_pos: int = 0  # ... whose next frame starts at this encounter byte position
    ckpt_seq: int = -1  # frame seq just before the checkpoint
    last_sid: str | None = None
    last_to: int = -1
    sess_id: str | None = None
    sess_offset: int = 0
    sess_started_ms: int = 0
    sess_seen_ms: int = 0
    stop_seq: int | None = None  # EncounterStopped.last_frame_seq, once seen
    gaps: tuple[int, ...] = ()  # seqs of finals that arrived unusable
    reconnects: int = 0  # reconnects of this encounter so far (rotations not counted)
    # seq -> revised encounter-wide speaker label ("" = unassigned), from SpeakerRevision
    speaker_revisions: dict[int, str] | None = None


def _s(raw: dict[bytes, bytes], name: str) -> str | None:
    v = raw.get(name.encode())
    return v.decode() if v is not None else None


def _i(raw: dict[bytes, bytes], name: str, default: int) -> int:
    v = _s(raw, name)
    return int(v) if v not in (None, "") else default


def _revisions(raw: str | None) -> dict[int, str]:
    """The stored ``spk_rev`` field; anything unreadable counts as no revision (labels
    then stay as first published: never worse than before revisions existed)."""
    if not raw:
        return {}
    try:
        data = json.loads(raw)
    except json.JSONDecodeError:
        return {}
    if not isinstance(data, dict):
        return {}
    return {int(k): str(v) for k, v in data.items() if str(k).isdigit() and isinstance(v, str)}


def dump_revisions(revisions: dict[int, str]) -> str:
    return json.dumps({str(k): v for k, v in sorted(revisions.items())})


@dataclass(eq=False)
class EncounterStore:
    redis: aioredis.Redis
    names: StreamNames
    state_ttl_s: int
    # Final turns and outcomes wait for a replica on a cluster (docs/cluster.md): a
    # failover then cannot take them, and the state they advance, with the old primary.
    wait: ReplicaWait | None = None
    wait_stats: WaitStats = field(init=False, default_factory=WaitStats)

    @property
    def active_key(self) -> str:
        return self.names.bridge_active

    def state_key(self, encounter_id: str) -> str:
        return self.names.bridge_state(encounter_id)

    def sessions_key(self, encounter_id: str) -> str:
        return self.names.bridge_sessions(encounter_id)

    def lease_key(self, encounter_id: str) -> str:
        return self.names.bridge_lease(encounter_id)

    # -- control events (any replica) --------------------------------------------------

    async def register(self, msg: EncounterStarted) -> bool:
        """Record a started encounter (idempotent); False if it already finished."""
        key = self.state_key(msg.encounter_id)
        status: Any = await self.redis.hget(key, "status")
        if status is not None and status.decode() in (DONE, FAILED):
            return False
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hsetnx(key, "started", msg.model_dump_json())
            pipe.hsetnx(key, "status", ACTIVE)
            pipe.hsetnx(key, "next_seq", 0)
            pipe.persist(key)
            pipe.sadd(self.active_key, msg.encounter_id)
            await pipe.execute()
        return True

    async def record_stop(self, encounter_id: str, last_frame_seq: int) -> None:
        key = self.state_key(encounter_id)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(key, "stop_seq", last_frame_seq)
            pipe.hexists(key, "started")
            _, known = await pipe.execute()
        if not known:  # a stop without a start (yet): don't keep it forever
            await self.redis.expire(key, self.state_ttl_s)

    async def active_ids(self) -> list[str]:
        members: Any = await self.redis.smembers(self.active_key)
        return sorted(m.decode() for m in members)

    async def load(self, encounter_id: str) -> EncounterState:
        raw: Any = await self.redis.hgetall(self.state_key(encounter_id))
        started_json = _s(raw, "started")
        stop = _s(raw, "stop_seq")
        return EncounterState(
            encounter_id=encounter_id,
            started=EncounterStarted.model_validate_json(started_json) if started_json else None,
            status=_s(raw, "status") or ACTIVE,
            next_seq=_i(raw, "next_seq", 0),
            resume_pos=_i(raw, "resume_pos", 0),
            ckpt_id=_s(raw, "ckpt_id") or "0-0",
            ckpt_pos=_i(raw, "ckpt_pos", 0),
            ckpt_seq=_i(raw, "ckpt_seq", -1),
            last_sid=_s(raw, "last_sid"),
            last_to=_i(raw, "last_to", -1),
            sess_id=_s(raw, "sess_id") or None,
            sess_offset=_i(raw, "sess_offset", 0),
            sess_started_ms=_i(raw, "sess_started_ms", 0),
            sess_seen_ms=_i(raw, "sess_seen_ms", 0),
            stop_seq=int(stop) if stop not in (None, "") else None,
            gaps=tuple(int(g) for g in (_s(raw, "gaps") or "").split(",") if g),
            reconnects=_i(raw, "reconnects", 0),
            speaker_revisions=_revisions(_s(raw, "spk_rev")),
        )

    async def stop_seq(self, encounter_id: str) -> int | None:
        raw = await self.redis.hget(self.state_key(encounter_id), "stop_seq")
        return int(raw) if raw not in (None, b"") else None

    async def stop_seqs(self, encounter_ids: list[str]) -> dict[str, int | None]:
        """``stop_seq`` of many encounters in one round trip."""
        if not encounter_ids:
            return {}
        async with self.redis.pipeline(transaction=False) as pipe:
            for eid in encounter_ids:
                pipe.hget(self.state_key(eid), "stop_seq")
            raws: list[Any] = await pipe.execute()
        return {
            eid: int(raw) if raw not in (None, b"") else None
            for eid, raw in zip(encounter_ids, raws, strict=True)
        }

    # -- owner writes (fenced by the lease token) ----------------------------------------

    async def set_fields(self, encounter_id: str, token: str, **fields: Any) -> None:
        flat: list[Any] = []
        for k, v in fields.items():
            flat += [k, v]
        r = await self.redis.eval(
            _SET, 2, self.lease_key(encounter_id), self.state_key(encounter_id), token, *flat
        )
        if r == -1:
            raise LeaseLost(encounter_id)

    async def begin_session(self, encounter_id: str, token: str, sid: str, offset: int) -> None:
        now = int(time.time() * 1000)
        await self.set_fields(
            encounter_id, token, sess_id=sid, sess_offset=offset, sess_started_ms=now,
            sess_seen_ms=now,
        )  # fmt: skip

    async def session_count(self, encounter_id: str) -> int:
        """STT sessions of the encounter recorded so far (each is recorded when it ends,
        or by the next owner when its replica died): the next session's ordinal - 1."""
        # LRANGE, not LLEN: the bridge's Redis user may read lists only so (the list is
        # one short entry per session).
        return len(await self.redis.lrange(self.sessions_key(encounter_id), 0, -1))

    async def record_session(self, encounter_id: str, token: str, usage: SttSessionUsage) -> None:
        r = await self.redis.eval(
            _SESSION_USAGE, 3, self.lease_key(encounter_id), self.sessions_key(encounter_id),
            self.state_key(encounter_id), token, usage.model_dump_json(),
        )  # fmt: skip
        if r == -1:
            raise LeaseLost(encounter_id)

    async def sessions(self, encounter_id: str) -> list[SttSessionUsage]:
        rows = await self.redis.lrange(self.sessions_key(encounter_id), 0, -1)
        return [SttSessionUsage.model_validate_json(r) for r in rows]

    async def publish_turn(
        self,
        token: str,
        turn: FinalTurn,
        *,
        resume_pos: int,
        ckpt: tuple[str, int, int],
    ) -> bool:
        """XADD the turn and advance the state atomically; False for a duplicate."""
        fields = encode(turn)
        r = await eval_replicated(
            self.redis, self.wait, self.wait_stats,
            _PUBLISH_TURN, 3, self.lease_key(turn.encounter_id),
            self.state_key(turn.encounter_id), self.names.turns,
            token, turn.seq, turn.stt_session_id, turn.turn_order,
            fields["v"], fields["type"], fields["data"],
            resume_pos, ckpt[0], ckpt[1], ckpt[2],
        )  # fmt: skip
        if r == -1:
            raise LeaseLost(turn.encounter_id)
        if r == -2:
            await self._seq_mismatch(turn.encounter_id, turn.seq)
        return bool(r == 1)

    async def _seq_mismatch(self, encounter_id: str, ours: int) -> NoReturn:
        """Our counter disagrees with Redis: ahead of it, Redis lost our newest writes;
        otherwise another owner wrote in between."""
        stored = await self.next_seq(encounter_id)
        if stored < ours:
            raise StateBehind(encounter_id, stored)
        raise LeaseLost(encounter_id)

    async def next_seq(self, encounter_id: str) -> int:
        raw = await self.redis.hget(self.state_key(encounter_id), "next_seq")
        return int(raw) if raw not in (None, b"") else 0

    async def restore(
        self,
        encounter_id: str,
        token: str,
        *,
        stored_seq: int,
        turns: list[FinalTurn],
        fields: dict[str, Any],
    ) -> None:
        """Re-add ``turns`` (which Redis lost) and set the state ``fields``, if Redis still
        holds ``stored_seq`` and our lease; else :class:`LeaseLost`."""
        argv: list[Any] = [token, stored_seq, len(turns)]
        for turn in turns:
            f = encode(turn)
            argv += [f["v"], f["type"], f["data"]]
        for k, v in fields.items():
            argv += [k, v]
        r = await self.redis.eval(
            _RESTORE, 3, self.lease_key(encounter_id), self.state_key(encounter_id),
            self.names.turns, *argv,
        )  # fmt: skip
        if r != 1:
            raise LeaseLost(encounter_id)

    async def record_gap(
        self,
        encounter_id: str,
        token: str,
        *,
        seq: int,
        session_id: str,
        turn_order: int | None,
    ) -> bool:
        """Advance ``seq`` past a final that could not be used; False for a repeat."""
        r = await self.redis.eval(
            _GAP, 2, self.lease_key(encounter_id), self.state_key(encounter_id),
            token, seq, session_id, "" if turn_order is None else turn_order,
        )  # fmt: skip
        if r == -1:
            raise LeaseLost(encounter_id)
        if r == -2:
            await self._seq_mismatch(encounter_id, seq)
        return bool(r == 1)

    async def finish(
        self, encounter_id: str, token: str, msg: EncounterTranscribed | EncounterFailed
    ) -> None:
        """Publish the outcome on ms:control, mark the encounter, drop lease and activity."""
        fields = encode(msg)
        status = DONE if isinstance(msg, EncounterTranscribed) else FAILED
        r = await eval_replicated(
            self.redis, self.wait, self.wait_stats,
            _FINISH, 5, self.lease_key(encounter_id), self.state_key(encounter_id),
            self.names.control, self.active_key, self.sessions_key(encounter_id),
            token, fields["v"], fields["type"], fields["data"], status, encounter_id,
            self.state_ttl_s,
        )  # fmt: skip
        if r == -1:
            raise LeaseLost(encounter_id)
