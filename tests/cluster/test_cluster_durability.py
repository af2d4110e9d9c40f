"""Durability under failover: the writes whose loss would be silent wait for a replica.

Redis Cluster replicates asynchronously. A final turn (with the encounter state it
advances) and an encounter's outcome (``EncounterTranscribed``) are published by the
bridge with ``WAIT 1`` on the same connection (docs/cluster.md). Here the replica is cut off
and frozen before the write, the primary is killed the moment the bridge's call returns,
and the replica is promoted: the write must be on it. Without the WAIT the call returns as
soon as the primary has the write, the primary dies with it, and the promoted replica
never had it.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from redis.exceptions import MovedError
from structlog.testing import capture_logs

from services.capture.publisher import FrameWriter
from services.capture.recovery import recover_spools
from services.capture.spool import KIND_FRAME, EncounterSpool
from services.stt_bridge.lease import Leases
from services.stt_bridge.state import EncounterStore
from shared.contracts import (
    EncounterStarted,
    EncounterStopped,
    EncounterTranscribed,
    FinalTurn,
    StreamNames,
    decode,
    decode_audio,
    decode_control,
    encode,
)
from shared.streams import ReplicaWait, make_redis
from tests.cluster.procs import RedisClusterProcs, _command
from tests.kit.cluster import clinic_prefix

pytestmark = [pytest.mark.timeout(120)]

EID = "room-d.enc-1"


def _turn(seq: int) -> FinalTurn:
    return FinalTurn(encounter_id=EID, seq=seq, stt_session_id="s1", turn_order=seq,
                     text="t", start_ms=0, end_ms=1)  # fmt: skip


async def _publish_turn(store: EncounterStore, token: str) -> None:
    assert await store.publish_turn(token, _turn(1), resume_pos=6400, ckpt=("1-0", 3200, 0))


async def _finish(store: EncounterStore, token: str) -> None:
    await store.finish(EID, token, EncounterTranscribed(encounter_id=EID, turn_count=2,
                                                        audio_ms=200))  # fmt: skip


async def _turn_kept(client: Any, store: EncounterStore, names: StreamNames) -> bool:
    seqs = [decode(f, FinalTurn).seq for _, f in await client.xrange(names.turns)]
    return seqs == [0, 1] and (await store.load(EID)).next_seq == 2


async def _outcome_kept(client: Any, store: EncounterStore, names: StreamNames) -> bool:
    rows = [decode_control(f) for _, f in await client.xrange(names.control)]
    return (
        any(isinstance(m, EncounterTranscribed) for m in rows)
        and (await store.load(EID)).status == "done"
    )


Write = Callable[[EncounterStore, str], Awaitable[None]]
Kept = Callable[[Any, EncounterStore, StreamNames], Awaitable[bool]]


@pytest.mark.parametrize(
    ("write", "kept"),
    [(_publish_turn, _turn_kept), (_finish, _outcome_kept)],
    ids=["final-turn", "encounter-transcribed"],
)
async def test_write_acknowledged_to_the_bridge_survives_its_primary(
    redis_cluster: RedisClusterProcs, write: Write, kept: Kept
) -> None:
    names = StreamNames(clinic_prefix("clinic-d"))
    client: Any = make_redis(redis_cluster.url)
    # A long bound: the call must wait for the replica, however slow the machine is.
    store = EncounterStore(client, names, 60, ReplicaWait(replicas=1, timeout_ms=60_000))
    leases = Leases(client, names, "bridge-d", lease_ms=120_000)
    try:
        await store.register(EncounterStarted(encounter_id=EID, room="room-d", llm_model="m"))
        assert await leases.acquire(EID)
        assert await store.publish_turn(leases.token, _turn(0), resume_pos=3200,
                                        ckpt=("1-0", 3200, 0))  # fmt: skip
        primary = redis_cluster.primary_of(names.control)
        replica = redis_cluster.replica_of(primary)
        redis_cluster.cut_replication(replica)  # lags: it will not have the next write
        task = asyncio.create_task(write(store, leases.token))
        # The primary has taken the write (its offset moved past the frozen replica's) ...
        before = redis_cluster.repl_offset(primary)
        while redis_cluster.repl_offset(primary) == before and not task.done():
            await asyncio.sleep(0.01)
        if not task.done():
            # ... and the bridge still waits: thawed, the replica catches up and acks.
            redis_cluster.thaw(replica)
        await task
        # The moment the bridge went on, the primary dies; its replica takes over.
        redis_cluster.kill(primary)
        redis_cluster.thaw(replica)
        promoted = await asyncio.to_thread(redis_cluster.wait_promoted, primary, names.control)
        assert promoted == replica
        assert await kept(client, store, names)
        assert store.wait_stats.unreplicated == 0
        assert store.wait_stats.replicated == 2
    finally:
        await client.aclose()


async def test_unreplicated_write_is_counted_and_logged_not_failed(
    redis_cluster: RedisClusterProcs,
) -> None:
    """No replica answers within the bound: the write stands on the primary, the bridge
    goes on, and the miss is logged (no key names, no content) and counted."""
    names = StreamNames(clinic_prefix("clinic-u"))
    client: Any = make_redis(redis_cluster.url)
    store = EncounterStore(client, names, 60, ReplicaWait(replicas=1, timeout_ms=50))
    leases = Leases(client, names, "bridge-u", lease_ms=120_000)
    try:
        await store.register(EncounterStarted(encounter_id=EID, room="room-u", llm_model="m"))
        assert await leases.acquire(EID)
        primary = redis_cluster.primary_of(names.control)
        redis_cluster.cut_replication(redis_cluster.replica_of(primary))
        with capture_logs() as logged:
            assert await store.publish_turn(leases.token, _turn(0), resume_pos=3200,
                                            ckpt=("1-0", 3200, 0))  # fmt: skip
        assert (store.wait_stats.replicated, store.wait_stats.unreplicated) == (0, 1)
        assert (await store.load(EID)).next_seq == 1
    finally:
        await client.aclose()
    [event] = [e for e in logged if e["event"] == "redis_write_unreplicated"]
    assert (event["replicas_wanted"], event["replicas_acked"]) == (1, 0)
    assert names.prefix not in repr(logged)


def test_wait_only_on_a_cluster() -> None:
    assert ReplicaWait.for_url("redis+cluster://h:1", 1, 500) == ReplicaWait(1, 500)
    assert ReplicaWait.for_url("redis+cluster://h:1", 0, 500) is None
    assert ReplicaWait.for_url("redis://127.0.0.1:6379/0", 1, 500) is None


async def test_capture_batch_meets_moved_as_an_error_not_a_redirect(
    redis_cluster: RedisClusterProcs,
) -> None:
    """What the capture writer relies on after a partitioned primary came back as a replica
    (services/capture/publisher.py): its batch (a transaction, on a client that does not
    retry) is not sent on to the slot's new primary, so it can first check what that
    primary lacks; plain reads do follow the MOVED."""
    names = StreamNames(clinic_prefix("clinic-m"))
    stream = names.audio("room-m.enc-1")
    client: Any = make_redis(redis_cluster.url, retry=False)
    try:
        await client.xadd(stream, {"seq": "0"}, id="1-0")
        primary = redis_cluster.primary_of(stream)
        replica = redis_cluster.replica_of(primary)
        assert _command(replica, "CLUSTER", "FAILOVER").startswith(b"+OK")
        await asyncio.to_thread(redis_cluster.wait_role, primary, "slave")
        await asyncio.to_thread(redis_cluster.wait_ok)
        async with client.pipeline(transaction=True) as pipe:
            pipe.xadd(stream, {"seq": "1"}, id="2-0")
            with pytest.raises(MovedError):
                await pipe.execute(raise_on_error=False)
        assert [e for e, _ in await client.xrevrange(stream)] == [b"1-0"]  # follows
        assert redis_cluster.primary_of(stream) == replica
    finally:
        await client.aclose()


def _pcm(seq: int) -> bytes:
    return bytes([seq % 251]) * 640


async def _frame_writer(
    tmp_path: Path, client: Any, names: StreamNames, eid: str, wait: ReplicaWait | None
) -> tuple[FrameWriter, asyncio.Task[None]]:
    meta = {"encounter_id": eid, "stream_prefix": names.prefix}
    spool = EncounterSpool.create(tmp_path / "spool", eid, meta)
    writer = FrameWriter(
        client, names.audio(eid), spool, budget_bytes=1 << 30, wait=wait, settle_s=3.0
    )
    task = asyncio.create_task(writer.run())
    started = EncounterStarted(encounter_id=eid, room=eid.split(".")[0], llm_model="m")
    await writer.add_control(names.control, encode(started), replay=True)
    return writer, task


async def _frames_and_stops(reader: Any, names: StreamNames, eid: str) -> tuple[list[int], int]:
    """Frame seqs and stops as the slot's primary has them now (``reader``: a client that
    retries, so it follows a failover)."""
    frames = [decode_audio(f).seq for _id, f in await reader.xrange(names.audio(eid))]
    stops = [
        m for _id, f in await reader.xrange(names.control)
        if isinstance(m := decode_control(f), EncounterStopped) and m.encounter_id == eid
    ]  # fmt: skip
    return frames, len(stops)


async def _kill_primary_after_the_stop(
    cluster: RedisClusterProcs,
    primary: int,
    replica: int,
    names: StreamNames,
    sending: asyncio.Task[Any],
) -> None:
    """Once the primary holds the visit's stop, the agent may look again and decide; a
    second later the primary dies, and its frozen (cut-off) replica takes over."""
    deadline = time.monotonic() + 30
    while b"EncounterStopped" not in _command(primary, "XREVRANGE", names.control, "+", "-",
                                              "COUNT", "1"):  # fmt: skip
        assert time.monotonic() < deadline, "the stop never reached the primary"
        await asyncio.sleep(0.005)
    await asyncio.wait({sending}, timeout=1.0)
    cluster.kill(primary)
    cluster.thaw(replica)
    promoted = await asyncio.to_thread(cluster.wait_promoted, primary, names.control)
    assert promoted == replica


async def test_capture_visit_end_outlasts_a_primary_that_dies_with_its_last_audio(
    tmp_path: Path, redis_cluster: RedisClusterProcs
) -> None:
    """The visit's last frames and its stop reach a primary whose replica is cut off, and
    that primary dies the moment it has taken the stop. The agent must not report the visit
    sent on the word of that primary alone: the stop's WAIT finds no replica, the writer
    keeps checking, finds the promoted replica without the last frames, and sends them
    (and the stop) again from its ring. Before, it checked the stream's top on the doomed
    primary, saw everything, and returned: the promoted replica lacked the last 20 frames."""
    names = StreamNames(clinic_prefix("clinic-e"))
    eid = "room-e.enc-1"
    client: Any = make_redis(redis_cluster.url, retry=False)
    reader: Any = make_redis(redis_cluster.url)
    try:
        await reader.ping()  # knows every node before one dies
        writer, task = await _frame_writer(
            tmp_path, client, names, eid, ReplicaWait(replicas=1, timeout_ms=300)
        )
        for seq in range(20):
            await writer.add_frame(seq, _pcm(seq))
        while writer.status.last_confirmed_seq < 19:
            await asyncio.sleep(0.01)
        primary = redis_cluster.primary_of(names.control)
        replica = redis_cluster.replica_of(primary)
        redis_cluster.cut_replication(replica)
        for seq in range(20, 40):
            await writer.add_frame(seq, _pcm(seq))
        stopped = EncounterStopped(encounter_id=eid, last_frame_seq=39)
        await writer.add_control(names.control, encode(stopped), stop=True)
        closing = asyncio.create_task(writer.close(task, timeout=60))
        await _kill_primary_after_the_stop(redis_cluster, primary, replica, names, closing)
        assert await closing, "the visit was not reported sent"
        frames, stops = await _frames_and_stops(reader, names, eid)
        assert frames == list(range(40))  # every frame once, in order, on the new primary
        assert stops >= 1
        assert writer.wait_stats.unreplicated >= 1
    finally:
        await client.aclose()
        await reader.aclose()


async def test_capture_visit_end_waits_for_one_replica_round_trip_when_healthy(
    tmp_path: Path, redis_cluster: RedisClusterProcs
) -> None:
    """A healthy cluster: the stop's WAIT comes back at once, nothing settles or repeats."""
    names = StreamNames(clinic_prefix("clinic-h"))
    eid = "room-h.enc-1"
    client: Any = make_redis(redis_cluster.url, retry=False)
    try:
        writer, task = await _frame_writer(
            tmp_path, client, names, eid, ReplicaWait(replicas=1, timeout_ms=10_000)
        )
        for seq in range(10):
            await writer.add_frame(seq, _pcm(seq))
        stopped = EncounterStopped(encounter_id=eid, last_frame_seq=9)
        await writer.add_control(names.control, encode(stopped), stop=True)
        assert await writer.close(task, timeout=60)
        assert (writer.wait_stats.replicated, writer.wait_stats.unreplicated) == (1, 0)
        assert await _frames_and_stops(client, names, eid) == (list(range(10)), 1)
    finally:
        await client.aclose()


async def test_recovered_spool_outlasts_a_primary_that_dies_with_its_last_audio(
    tmp_path: Path, redis_cluster: RedisClusterProcs
) -> None:
    """An agent killed mid-visit left frames 20-39 in its spool (0-19 reached Redis and its
    replica). The next run sends them and the visit's stop to a primary whose replica is
    cut off, and that primary dies a second after it has the stop. The spool must not be
    removed on that primary's word: the stop's WAIT finds no replica, the writer keeps
    checking, and sends frames 20-39 and the stop again to the promoted replica. Before,
    recovery sent without a replica check and removed the spool: the promoted replica
    lacked frames 20-39 and the stop, and no copy was left anywhere."""
    names = StreamNames(clinic_prefix("clinic-r"))
    eid = "room-r.enc-1"
    client: Any = make_redis(redis_cluster.url, retry=False)
    reader: Any = make_redis(redis_cluster.url)
    try:
        await reader.ping()  # knows every node before one dies
        writer, task = await _frame_writer(tmp_path, client, names, eid, None)
        for seq in range(20):
            await writer.add_frame(seq, _pcm(seq))
        while writer.status.last_confirmed_seq < 19:
            await asyncio.sleep(0.01)
        primary = redis_cluster.primary_of(names.control)
        replica = redis_cluster.replica_of(primary)
        deadline = time.monotonic() + 30
        while redis_cluster.repl_offset(replica) < redis_cluster.repl_offset(primary):
            assert time.monotonic() < deadline, "the replica never caught up"
            await asyncio.sleep(0.05)
        # Killed: the writer stops, frames 20-39 are only in the spool, nothing says stop.
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        for seq in range(20, 40):
            writer.spool.append(KIND_FRAME, seq, _pcm(seq))
        await writer.spool.sync()
        writer.spool.close()

        redis_cluster.cut_replication(replica)
        recovery = asyncio.create_task(
            recover_spools(
                client,
                tmp_path / "spool",
                asyncio.Event(),
                wait=ReplicaWait(replicas=1, timeout_ms=300),
                settle_s=3.0,
            )
        )
        await _kill_primary_after_the_stop(redis_cluster, primary, replica, names, recovery)
        assert await recovery == 1, "the spool was not sent"
        frames, stops = await _frames_and_stops(reader, names, eid)
        assert frames == list(range(40))  # every frame once, in order, on the new primary
        assert stops >= 1
        assert not (tmp_path / "spool" / eid).exists()  # removed once it was safe
    finally:
        await client.aclose()
        await reader.aclose()
