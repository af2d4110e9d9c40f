"""`medscribe notes run --role …`: ingest, writer and api in separate processes over one
database and one Redis, and the role-less default running all three (issue 23, step 2)."""

from __future__ import annotations

import signal
import subprocess
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis

from services.notes.db import repo
from services.notes.db.engine import Database
from services.notes.db.migrate import upgrade_async
from services.notes.service import ALL_ROLES, Role, parse_roles, role_names
from shared.contracts import StreamNames
from simulators.llm_server import LlmSimulator
from tests.helpers.procs import free_port, medscribe_cmd, subprocess_env
from tests.kit.factories import visit_messages
from tests.kit.notes import encounter_status, publish_shuffled
from tests.kit.waiting import eventually

TEXTS = [
    "Hello, how are you today?",
    "My cough started three days ago and I have a fever.",
    "Your lungs sound clear and your temperature is 38.1 degrees.",
    "Take ibuprofen 400 mg twice daily and rest, follow up in one week.",
]


def test_roles_parse_from_repeats_and_comma_lists() -> None:
    assert parse_roles([]) == ALL_ROLES
    assert parse_roles(["ingest"]) == {Role.INGEST}
    assert parse_roles(["writer", "api"]) == {Role.WRITER, Role.API}
    assert parse_roles(["API, ingest", ""]) == {Role.INGEST, Role.API}
    assert role_names({Role.API, Role.INGEST}) == "ingest,api"
    with pytest.raises(ValueError, match="'console'"):
        parse_roles(["ingest,console"])


def test_unknown_role_and_nothing_left_are_refused() -> None:
    for args, says in (
        (["--role", "scheduler"], "unknown role 'scheduler'"),
        (["--role", "api", "--no-api"], "leaves nothing to run"),
    ):
        done = subprocess.run(
            [*medscribe_cmd(), "notes", "run", *args],
            env=subprocess_env(),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 2, done.stderr
        assert says in done.stderr
        assert "Traceback" not in done.stderr


@pytest.fixture
async def sqlite_db(tmp_path: Path) -> AsyncIterator[Database]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'notes.db'}"
    await upgrade_async(url)
    database = Database(url)
    yield database
    await database.dispose()


@contextmanager
def notes_run(
    name: str,
    args: list[str],
    db: Database,
    redis_url: str,
    names: StreamNames,
    tmp: Path,
    **extra: str,
) -> Iterator[subprocess.Popen[bytes]]:
    env = subprocess_env(
        DATABASE_URL=db.url,
        MEDSCRIBE_REDIS_URL=redis_url,
        MEDSCRIBE_STREAM_PREFIX=names.prefix,
        MEDSCRIBE_CONSUMER_NAME=name,
        MEDSCRIBE_EXPORT_DIR=str(tmp / "exports"),
        MEDSCRIBE_SCHEDULER_POLL_S="0.1",
        MEDSCRIBE_GRACE_PERIOD_S="30",
        MEDSCRIBE_NOTE_RETRY_INITIAL_S="0.2",
        MEDSCRIBE_LOG_LEVEL="DEBUG",
        **extra,
    )
    log = (tmp / f"{name}.log").open("wb")
    proc = subprocess.Popen(
        [*medscribe_cmd(), "notes", "run", *args], env=env, stdout=log, stderr=log
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


async def _ready(port: int) -> dict[str, Any]:
    async def answer() -> dict[str, Any] | None:
        async with httpx.AsyncClient(timeout=5) as http:
            try:
                resp = await http.get(f"http://127.0.0.1:{port}/readyz")
            except httpx.TransportError:
                return None
        body: dict[str, Any] = resp.json()
        return body if resp.status_code == 200 else None

    got: dict[str, Any] = await eventually(answer, timeout=60, every=0.2, what="/readyz 200")
    return got


async def _consumers(redis: aioredis.Redis, stream: str, group: str) -> set[str]:
    groups = await redis.xinfo_groups(stream)
    if not any(_text(g["name"]) == group for g in groups):
        return set()
    return {_text(c["name"]) for c in await redis.xinfo_consumers(stream, group)}


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


async def _notes(db: Database, encounter_id: str) -> int:
    async with db.session() as s:
        return len(await repo.note_history(s, encounter_id))


async def test_ingest_and_writer_processes_write_a_note_together(
    sqlite_db: Database,
    redis: aioredis.Redis,
    redis_url: str,
    names: StreamNames,
    tmp_path: Path,
    llm_sim: LlmSimulator,
) -> None:
    db = sqlite_db
    ingest_port, writer_port = free_port(), free_port()
    control, turns = visit_messages("roles-1", TEXTS, speakers=["A", "B", "A", "A"])
    with notes_run(
        "notes-ingest",
        ["--role", "ingest"],
        db,
        redis_url,
        names,
        tmp_path,
        # The ingest role calls no LLM: it starts without a key or a gateway.
        MEDSCRIBE_LLM_API_KEY="",
        ASSEMBLYAI_API_KEY="",
        MEDSCRIBE_LLM_GATEWAY_URL="http://127.0.0.1:9",
        MEDSCRIBE_HEALTH_PORT=str(ingest_port),
    ) as ingest:
        ready = await _ready(ingest_port)
        assert ready == {"status": "ok", "database": "ok", "redis": "ok", "roles": "ingest"}
        await publish_shuffled(redis, names, control, turns)

        async def stored() -> bool:
            async with db.session() as s:
                got = await repo.list_turns(s, "roles-1")
            return len(got) == len(TEXTS) and await encounter_status(db, "roles-1") == (
                "note_pending"
            )

        await eventually(stored, timeout=60, what="turns and the outcome stored by ingest")
        # Nothing in this process writes notes, exports or calls the gateway.
        assert await _notes(db, "roles-1") == 0
        assert llm_sim.stats.tasks.get("soap", 0) == 0
        assert not (tmp_path / "exports").exists()

        with notes_run(
            "notes-writer",
            ["--role", "writer", "--no-api"],
            db,
            redis_url,
            names,
            tmp_path,
            MEDSCRIBE_LLM_API_KEY="sim-key",
            MEDSCRIBE_LLM_GATEWAY_URL=llm_sim.base_url,
            MEDSCRIBE_HEALTH_PORT=str(writer_port),
        ) as writer:
            ready = await _ready(writer_port)
            assert ready["roles"] == "writer"

            async def written() -> bool:
                return await _notes(db, "roles-1") == 1

            await eventually(written, timeout=90, what="the note written by the writer")
            assert await encounter_status(db, "roles-1") == "ready"

            def exported() -> list[Path]:  # written right after the note is stored
                return list((tmp_path / "exports").glob("roles-1/clinical_note_soap_*.txt"))

            await eventually(exported, timeout=30, what="the exported note")
            # The streams are read by the ingest process only.
            for stream in (names.control, names.edited):
                assert await _consumers(redis, stream, "notes") == {"notes-ingest"}
            assert ingest.poll() is None
            assert writer.poll() is None
            writer.send_signal(signal.SIGTERM)
            assert writer.wait(20) == 0
        ingest.send_signal(signal.SIGTERM)
        assert ingest.wait(20) == 0
    assert llm_sim.stats.tasks["soap"] == 1
    ingest_log = (tmp_path / "notes-ingest.log").read_text()
    writer_log = (tmp_path / "notes-writer.log").read_text()
    assert '"role": "ingest"' in ingest_log
    assert '"role": "writer"' in writer_log
    assert "note_stored" in writer_log
    assert "note_stored" not in ingest_log
    assert "api_listening" not in ingest_log + writer_log  # no staff API in either


async def test_default_runs_every_role(
    sqlite_db: Database,
    redis: aioredis.Redis,
    redis_url: str,
    names: StreamNames,
    tmp_path: Path,
    llm_sim: LlmSimulator,
) -> None:
    db = sqlite_db
    api_port, health_port = free_port(), free_port()
    control, turns = visit_messages("roles-2", TEXTS, speakers=["A", "B", "A", "A"])
    with notes_run(
        "notes-all",
        [],
        db,
        redis_url,
        names,
        tmp_path,
        MEDSCRIBE_LLM_API_KEY="sim-key",
        MEDSCRIBE_LLM_GATEWAY_URL=llm_sim.base_url,
        MEDSCRIBE_API_HOST="127.0.0.1",
        MEDSCRIBE_API_PORT=str(api_port),
        MEDSCRIBE_HEALTH_PORT=str(health_port),
    ) as proc:
        # All roles: the answers are what they were before roles existed.
        assert await _ready(health_port) == {"status": "ok", "database": "ok", "redis": "ok"}
        assert (await _ready(api_port))["status"] == "ok"  # the staff API's own probe
        await publish_shuffled(redis, names, control, turns)

        async def written() -> bool:
            return await _notes(db, "roles-2") == 1

        await eventually(written, timeout=90, what="the note written by the default process")
        assert await _consumers(redis, names.edited, "notes") == {"notes-all"}
        async with httpx.AsyncClient(timeout=5) as http:  # the console is served too
            signin = await http.get(f"http://127.0.0.1:{api_port}/signin")
        assert signin.status_code == 200
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0
    log = (tmp_path / "notes-all.log").read_text()
    assert '"role": "ingest,writer,api"' in log
