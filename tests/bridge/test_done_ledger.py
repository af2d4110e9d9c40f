"""A visit the bridge transcribed is never sent to STT again, even when Redis loses or
rolls back the bridge's state (a restart that dropped replayed scripts, a restore from
backup): a real `medscribe stt-bridge` process against the STT simulator, sessions counted
at the simulator."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from services.stt_bridge.ledger import DoneLedger, LedgerError
from shared.contracts import EncounterTranscribed, StreamNames
from simulators.stt_server import SttSimulator
from tests.bridge.helpers import (
    control_messages,
    play_encounter,
    script_audio,
    script_turns,
    turns_of,
    wait_for_outcome,
)
from tests.helpers.procs import medscribe_cmd, subprocess_env

SCRIPT = script_turns([("doctor", "How is the knee today?"), ("patient", "Much better.")])


def _bridge_process(redis_url: str, names: StreamNames, sim_url: str, ledger: Path) -> Any:
    env = subprocess_env(
        MEDSCRIBE_REDIS_URL=redis_url, MEDSCRIBE_STREAM_PREFIX=names.prefix,
        MEDSCRIBE_STREAMING_URL=sim_url, ASSEMBLYAI_API_KEY="sim-key",
        MEDSCRIBE_PACE_FACTOR="20", MEDSCRIBE_LEASE_MS="2000", MEDSCRIBE_SCAN_EVERY_S="0.3",
        MEDSCRIBE_HEALTH_PORT="0", MEDSCRIBE_DONE_LEDGER=str(ledger),
    )  # fmt: skip
    return subprocess.Popen(
        [*medscribe_cmd(), "stt-bridge"], env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


@pytest.fixture
def ledger_path(tmp_path: Path) -> Path:
    return tmp_path / "state" / "bridge-done.sqlite3"


@pytest.fixture
def bridge_proc(
    redis_url: str, names: StreamNames, sim: SttSimulator, ledger_path: Path
) -> Iterator[Any]:
    proc = _bridge_process(redis_url, names, sim.url, ledger_path)
    yield proc
    proc.terminate()
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


async def _transcribed(redis: Any, names: StreamNames, eid: str) -> list[Any]:
    return [
        m for m in await control_messages(redis, names)
        if isinstance(m, EncounterTranscribed) and m.encounter_id == eid
    ]  # fmt: skip


async def _roll_back(redis: Any, names: StreamNames, eid: str, how: str) -> None:
    bridge_keys = [k async for k in redis.scan_iter(match=f"{names.prefix}bridge:*")]
    if how == "wiped":
        # Every bridge key and the bridge's consumer group gone: the control stream is read
        # again from the start (EncounterStarted and EncounterStopped re-delivered).
        await redis.delete(*bridge_keys)
        await redis.xgroup_destroy(names.control, "bridge")
    else:
        # What the Redis 7.0 restart did: the scripts that published the turns and finished
        # the encounter were not replayed, so the visit looks active from its first byte.
        state = names.key("bridge", "enc", eid)
        fresh = {"status": "active", "next_seq": 0, "resume_pos": 0, "ckpt_id": "0-0",
                 "ckpt_pos": 0, "ckpt_seq": -1}  # fmt: skip
        await redis.hset(state, mapping=fresh)
        await redis.hdel(state, "last_sid", "last_to")
        await redis.persist(state)
        await redis.sadd(names.key("bridge", "active"), eid)


@pytest.mark.parametrize("how", ["rolled_back", "wiped"])
async def test_a_transcribed_visit_is_not_sent_to_stt_again(
    redis: Any, names: StreamNames, sim: SttSimulator, bridge_proc: Any, ledger_path: Path,
    how: str,
) -> None:  # fmt: skip
    eid = f"done-{how}"
    await play_encounter(redis, names, eid, script_audio(SCRIPT))
    await wait_for_outcome(redis, names, [eid], timeout=90)
    opened = sim.stats.sessions_opened
    turns = await turns_of(redis, names, eid)
    assert opened >= 1
    assert len(turns) == 2

    await _roll_back(redis, names, eid, how)
    # The bridge finds the visit again (scanner or re-read control stream), sees it in its
    # ledger and only re-publishes the recorded outcome.
    deadline = asyncio.get_running_loop().time() + 30
    while len(await _transcribed(redis, names, eid)) < 2:
        assert bridge_proc.poll() is None, bridge_proc.stderr.read()
        assert asyncio.get_running_loop().time() < deadline, "the visit was never settled"
        await asyncio.sleep(0.2)
    first, again = await _transcribed(redis, names, eid)
    assert again == first
    await asyncio.sleep(1.5)  # a few scan periods: nothing may start streaming it
    assert sim.stats.sessions_opened == opened
    assert await turns_of(redis, names, eid) == turns
    assert await redis.hget(names.key("bridge", "enc", eid), "status") == b"done"
    assert not await redis.sismember(names.key("bridge", "active"), eid)
    assert not await redis.exists(names.key("bridge", "lease", eid))
    assert ledger_path.stat().st_mode & 0o077 == 0


async def test_without_its_ledger_the_bridge_would_transcribe_again(
    redis: Any, redis_url: str, names: StreamNames, sim: SttSimulator, tmp_path: Path
) -> None:
    """The control case: the same rollback with a fresh ledger opens a new STT session, so
    the test above counts what it claims to."""
    eid = "done-control"
    proc = _bridge_process(redis_url, names, sim.url, tmp_path / "a.sqlite3")
    try:
        await play_encounter(redis, names, eid, script_audio(SCRIPT))
        await wait_for_outcome(redis, names, [eid], timeout=90)
    finally:
        proc.terminate()
        await asyncio.to_thread(proc.wait, 30)
    opened = sim.stats.sessions_opened
    await _roll_back(redis, names, eid, "rolled_back")
    proc = _bridge_process(redis_url, names, sim.url, tmp_path / "b.sqlite3")
    try:
        deadline = asyncio.get_running_loop().time() + 60
        while sim.stats.sessions_opened == opened:
            assert asyncio.get_running_loop().time() < deadline, "never transcribed again"
            await asyncio.sleep(0.2)
    finally:
        proc.terminate()
        await asyncio.to_thread(proc.wait, 30)


async def test_ledger_keeps_outcomes_per_prefix_and_reports_a_bad_path(tmp_path: Path) -> None:
    msg = EncounterTranscribed(encounter_id="e1", turn_count=3, audio_ms=1000)
    a = DoneLedger(tmp_path / "l.sqlite3", "a:", keep_days=30)
    await a.record(msg)
    assert await a.get("e1") == msg
    assert await DoneLedger(tmp_path / "l.sqlite3", "b:", keep_days=30).get("e1") is None
    assert await DoneLedger(tmp_path / "l.sqlite3", "a:", keep_days=30).get("e1") == msg
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(LedgerError, match="bridge ledger"):
        await DoneLedger(blocker / "x.sqlite3", "a:", keep_days=30).open()


async def test_a_ledger_error_names_sqlites_code_not_its_text(tmp_path: Path) -> None:
    # A LedgerError's message is logged (a MedscribeError): the driver's own text is not
    # in it, since it could quote a row; SQLite's result code is.
    junk = tmp_path / "junk.sqlite3"
    junk.write_bytes(b"not a database\n" * 100)
    with pytest.raises(LedgerError) as caught:
        await DoneLedger(junk, "a:", keep_days=30).open()
    assert str(caught.value).endswith("DatabaseError SQLITE_NOTADB")
    assert "file is not a database" not in str(caught.value)


def test_cli_refuses_to_start_without_a_usable_ledger(
    tmp_path: Path, names: StreamNames, redis_url: str
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    env = subprocess_env(
        MEDSCRIBE_STREAM_PREFIX=names.prefix, ASSEMBLYAI_API_KEY="k",
        MEDSCRIBE_REDIS_URL=redis_url, MEDSCRIBE_HEALTH_PORT="0",
        MEDSCRIBE_DONE_LEDGER=str(blocker / "done.sqlite3"),
    )  # fmt: skip
    proc = subprocess.run(
        [*medscribe_cmd(), "stt-bridge"], env=env, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "MEDSCRIBE_DONE_LEDGER" in proc.stderr
    assert "Traceback" not in proc.stderr
