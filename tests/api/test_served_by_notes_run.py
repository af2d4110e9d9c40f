"""End to end: `medscribe notes run` serves the API, and a regeneration requested through
it is written by the service's own note scheduler (LLM Gateway simulator, real Redis,
migrated SQLite), then the process stops cleanly on SIGTERM."""

from __future__ import annotations

import asyncio
import signal
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from services.notes.db.engine import Database
from services.notes.db.migrate import upgrade_async
from shared.contracts import StreamNames
from simulators.llm_server import LlmSimConfig, LlmSimulator, start_llm_simulator
from tests.api.seeding import add_encounter, add_token, bearer
from tests.helpers.procs import free_port, medscribe_cmd, subprocess_env
from tests.kit.waiting import eventually

TIMEOUT = 60.0  # bounds a hang; the note normally appears within a few seconds


@pytest.fixture
async def llm_sim() -> AsyncIterator[LlmSimulator]:
    async with await start_llm_simulator(LlmSimConfig(seed=3)) as sim:
        yield sim


async def _wait_until_up(client: httpx.AsyncClient, proc: subprocess.Popen[bytes]) -> None:
    async def up() -> bool:
        assert proc.poll() is None, "medscribe notes run exited early"
        return (await client.get("/healthz")).status_code == 200

    # Refused connections only mean "not listening yet".
    await eventually(
        up,
        timeout=TIMEOUT,
        every=0.2,
        what="/healthz answering 200",
        retry_on=(httpx.TransportError,),
    )


async def test_regenerate_through_the_running_service(
    tmp_path: Path, redis_url: str, names: StreamNames, llm_sim: LlmSimulator
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'notes.db'}"
    await upgrade_async(url)
    db = Database(url)
    enc = await add_encounter(db, clinician="dr-a", status="needs_review")
    clin = await add_token(db, "clin-a", "clinician", "dr-a")
    await db.dispose()
    port = free_port()
    env = subprocess_env(
        MEDSCRIBE_DATABASE_URL=url,
        REDIS_URL=redis_url,
        MEDSCRIBE_STREAM_PREFIX=names.prefix,
        MEDSCRIBE_LLM_GATEWAY_URL=llm_sim.base_url,
        MEDSCRIBE_ASSEMBLYAI_API_KEY="sim-key",
        MEDSCRIBE_API_PORT="1",  # the --port flag below must win over the environment
        MEDSCRIBE_EXPORT_DIR=str(tmp_path / "exports"),
        MEDSCRIBE_SCHEDULER_POLL_S="0.2",
    )
    log = (tmp_path / "run.log").open("wb")
    proc = subprocess.Popen(
        [*medscribe_cmd(), "notes", "run", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        async with httpx.AsyncClient(base_url=base, timeout=10) as client:
            await _wait_until_up(client, proc)
            eid = enc.encounter_id
            r = await client.post(
                f"/v1/encounters/{eid}/note/regenerate",
                json={"model": "claude-haiku-4-5-20251001"},
                headers=bearer(clin),
            )
            assert r.status_code == 202, r.text
            async with asyncio.timeout(TIMEOUT):
                while True:
                    detail = await client.get(f"/v1/encounters/{eid}", headers=bearer(clin))
                    if detail.json()["status"] in ("ready", "needs_review"):
                        break
                    await asyncio.sleep(0.2)
            versions = await client.get(f"/v1/encounters/{eid}/note/versions", headers=bearer(clin))
            v = versions.json()["versions"]
            assert [(n["version"], n["kind"]) for n in v] == [(1, "generated"), (2, "regenerated")]
            assert v[1]["model"] == "claude-haiku-4-5-20251001"
            assert v[1]["author"] == "system"
            # The stream of a finished encounter says so and ends.
            events = await client.get(f"/v1/encounters/{eid}/events", headers=bearer(clin))
            assert "event: end" in events.text
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        log.close()
    output = (tmp_path / "run.log").read_text()
    assert "api_listening" in output
    assert "Dry cough" not in output  # no note or transcript text in the service log
