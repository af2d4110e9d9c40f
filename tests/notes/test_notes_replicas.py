"""Two real `medscribe notes run` processes on one database: every note exactly once."""

from __future__ import annotations

import asyncio
import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import redis.asyncio as aioredis

from services.notes.db import repo
from services.notes.db.engine import Database
from shared.contracts import StreamNames
from simulators.llm_server import LlmSimulator
from tests.helpers.procs import medscribe_cmd, subprocess_env
from tests.kit.factories import visit_messages
from tests.kit.notes import publish_shuffled
from tests.kit.waiting import eventually

CANARY = "Quokka5519"


@contextmanager
def notes_process(
    name: str,
    db: Database,
    redis_url: str,
    names: StreamNames,
    sim: LlmSimulator,
    tmp: Path,
    lease_s: float = 4.0,
) -> Iterator[subprocess.Popen[bytes]]:
    env = subprocess_env(
        DATABASE_URL=db.url,
        MEDSCRIBE_REDIS_URL=redis_url,
        MEDSCRIBE_STREAM_PREFIX=names.prefix,
        MEDSCRIBE_LLM_GATEWAY_URL=sim.base_url,
        MEDSCRIBE_LLM_API_KEY="sim-key",
        MEDSCRIBE_CONSUMER_NAME=name,
        MEDSCRIBE_EXPORT_DIR=str(tmp / "exports"),
        MEDSCRIBE_SCHEDULER_POLL_S="0.1",
        MEDSCRIBE_NOTE_LEASE_S=str(lease_s),
        MEDSCRIBE_NOTE_RETRY_INITIAL_S="0.2",
        MEDSCRIBE_LOG_LEVEL="DEBUG",
        MEDSCRIBE_LOG_FORMAT="json",
    )
    log = (tmp / f"{name}.log").open("wb")
    proc = subprocess.Popen(
        [*medscribe_cmd(), "notes", "run", "--no-api"], env=env, stdout=log, stderr=log
    )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        log.close()


async def _note_count(db: Database, encounter_id: str) -> int:
    async with db.session() as s:
        return len(await repo.note_history(s, encounter_id))


def _texts(i: int) -> list[str]:
    return [
        f"Hello, how are you today? Visit {i}.",
        f"My {CANARY} cough started three days ago and I have a fever.",
        "Your lungs sound clear and your temperature is 38.1 degrees.",
        "This looks like a viral bronchitis infection.",
        "Take ibuprofen 400 mg twice daily and rest, follow up in one week.",
    ]


async def test_two_processes_race_one_note_per_encounter(
    db: Database,
    redis: aioredis.Redis,
    redis_url: str,
    names: StreamNames,
    tmp_path: Path,
    llm_sim: LlmSimulator,
) -> None:
    llm_sim.config.latency_s = 0.3  # widen the window in which both could call
    encounters = [f"race-{i}" for i in range(6)]
    with (
        # A lease longer than any note takes on a loaded machine: this test is about two
        # live writers, not about one replacing the other (the next test is).
        notes_process("notes-a", db, redis_url, names, llm_sim, tmp_path, 30.0) as a,
        notes_process("notes-b", db, redis_url, names, llm_sim, tmp_path, 30.0) as b,
    ):
        for i, enc in enumerate(encounters):
            control, turns = visit_messages(enc, _texts(i), speakers=["A", "B", "A", "A", "A"])
            await publish_shuffled(redis, names, control, turns, seed=i)

        async def all_written() -> bool:
            counts = [await _note_count(db, e) for e in encounters]
            return all(c >= 1 for c in counts)

        await eventually(all_written, timeout=90)
        await asyncio.sleep(1.0)  # a second writer, if any, would show up now
        assert a.poll() is None
        assert b.poll() is None
        a.send_signal(signal.SIGTERM)
        b.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(a.wait, 20) == 0
        assert await asyncio.to_thread(b.wait, 20) == 0
    assert [await _note_count(db, e) for e in encounters] == [1] * 6
    assert llm_sim.stats.tasks["soap"] == 6  # the gateway was asked once per encounter
    logs = (tmp_path / "notes-a.log").read_text() + (tmp_path / "notes-b.log").read_text()
    assert "note_stored" in logs
    assert CANARY not in logs
    assert logs.count('"meaning_checks_ready"') == 2  # each process built it at start
    assert len(list((tmp_path / "exports").glob("race-*/clinical_note_soap_*.txt"))) == 6


async def test_killed_writer_is_replaced_after_its_lease(
    db: Database,
    redis: aioredis.Redis,
    redis_url: str,
    names: StreamNames,
    tmp_path: Path,
    llm_sim: LlmSimulator,
) -> None:
    llm_sim.config.latency_s = 2.0
    control, turns = visit_messages("kill-1", _texts(0), speakers=["A", "B", "A", "A", "A"])
    await publish_shuffled(redis, names, control, turns)
    with notes_process("notes-a", db, redis_url, names, llm_sim, tmp_path) as a:

        async def calling() -> bool:
            return llm_sim.stats.in_flight >= 1

        await eventually(calling, timeout=60)
        a.kill()  # mid-request: the lease stays behind in the database
        a.wait()
    llm_sim.config.latency_s = 0.0
    async with db.session() as s:
        enc = await repo.get_encounter(s, "kill-1")
    assert enc is not None
    assert enc.note_lease_owner == "notes-a"
    assert enc.status == "note_pending"
    with notes_process("notes-b", db, redis_url, names, llm_sim, tmp_path):

        async def written() -> bool:
            return await _note_count(db, "kill-1") == 1

        await eventually(written, timeout=60)
    async with db.session() as s:
        enc = await repo.get_encounter(s, "kill-1")
        notes = await repo.note_history(s, "kill-1")
    assert enc is not None
    assert enc.status == "ready"
    assert enc.note_lease_owner is None
    assert len(notes) == 1
