"""The note never stalls and the transcript never waits for it (issue 21, point 2):
the transcript file is written before the note is asked for; a gateway that refuses the
JSON schema gets the guide's plain-text request; a rejected or never-answered note ends as
``needs_review`` with the reason (on SQLite and PostgreSQL, real gateway simulator)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis
from pydantic import SecretStr

from services.notes.db import repo
from services.notes.db.engine import Database
from services.notes.status import EncounterStatus
from shared.contracts import StreamNames
from shared.gateway import GatewayClient
from simulators.llm_server import LlmSimulator
from tests.kit.factories import visit_messages
from tests.kit.notes import encounter_status, notes_settings, publish_shuffled, running_notes
from tests.kit.waiting import eventually

TEXTS = [
    "What brings you in today?",
    "My left knee has been hurting for two weeks.",
    "Take ibuprofen 400 mg twice daily and come back in two weeks.",
]


async def _enc(db: Database, eid: str) -> Any:
    async with db.session() as s:
        return await repo.get_encounter(s, eid)


async def _notes(db: Database, eid: str) -> list[Any]:
    async with db.session() as s:
        return await repo.note_history(s, eid)


def _files(export_dir: Path, eid: str, pattern: str) -> list[Path]:
    return sorted((export_dir / eid).glob(pattern))


async def test_transcript_exported_while_the_gateway_is_down(
    db: Database,
    redis: aioredis.Redis,
    names: StreamNames,
    tmp_path: Path,
    llm_sim: LlmSimulator,
    gateway: GatewayClient,
) -> None:
    llm_sim.config.down = True
    control, turns = visit_messages("tx-1", TEXTS)
    await publish_shuffled(redis, names, control, turns)
    async with running_notes(notes_settings(db, names, tmp_path), db, redis, gateway):

        async def transcript_written() -> bool:
            return bool(_files(tmp_path, "tx-1", "encounter_transcript_*.txt"))

        await eventually(transcript_written, timeout=60)
        assert await _notes(db, "tx-1") == []  # no note yet, the transcript did not wait
        assert _files(tmp_path, "tx-1", "clinical_note_soap_*.txt") == []
    text = _files(tmp_path, "tx-1", "encounter_transcript_*.txt")[0].read_text()
    for line in TEXTS:
        assert line in text


@pytest.mark.parametrize("status", [400, 422])
async def test_schema_refused_retried_once_as_plain_text(
    db: Database,
    redis: aioredis.Redis,
    names: StreamNames,
    tmp_path: Path,
    llm_sim: LlmSimulator,
    gateway: GatewayClient,
    status: int,
) -> None:
    llm_sim.config.reject_response_format = status
    control, turns = visit_messages("plain-1", TEXTS)
    await publish_shuffled(redis, names, control, turns)
    async with running_notes(notes_settings(db, names, tmp_path), db, redis, gateway):
        await eventually(lambda: _is(db, "plain-1", EncounterStatus.READY), timeout=60)

        async def exported() -> bool:  # the files follow the note's commit
            return bool(_files(tmp_path, "plain-1", "clinical_note_soap_*.txt"))

        await eventually(exported, timeout=60)
    notes = await _notes(db, "plain-1")
    assert len(notes) == 1
    assert notes[0].problem is None
    assert any("ibuprofen 400 mg" in b for bs in notes[0].sections.values() for b in bs)
    assert llm_sim.stats.count(status=status) == 1  # the structured request, once
    assert llm_sim.stats.count(status=200) == 1  # then the plain-text request
    sent = list(llm_sim.stats.recent)[-1]
    assert "response_format" not in sent
    assert _files(tmp_path, "plain-1", "clinical_note_soap_*.txt")


async def _is(db: Database, eid: str, status: str) -> bool:
    return await encounter_status(db, eid) == status


async def test_rejected_key_is_needs_review_at_once_with_reason(
    db: Database,
    redis: aioredis.Redis,
    names: StreamNames,
    tmp_path: Path,
    llm_sim: LlmSimulator,
) -> None:
    control, turns = visit_messages("key-1", TEXTS)
    await publish_shuffled(redis, names, control, turns)
    bad = GatewayClient(llm_sim.base_url, SecretStr("wrong-key"), max_attempts=2)
    try:
        async with running_notes(notes_settings(db, names, tmp_path), db, redis, bad):
            await eventually(lambda: _is(db, "key-1", EncounterStatus.NEEDS_REVIEW), timeout=60)
    finally:
        await bad.aclose()
    enc = await _enc(db, "key-1")
    assert enc.failure_stage == "notes"
    assert "API key" in enc.failure_reason
    assert "401" in enc.failure_reason
    assert enc.note_attempts == 1
    assert llm_sim.stats.count(status=401) == 1  # never retried
    assert await _notes(db, "key-1") == []
    assert _files(tmp_path, "key-1", "encounter_transcript_*.txt")


async def test_unknown_model_is_needs_review_after_plain_text_try(
    db: Database,
    redis: aioredis.Redis,
    names: StreamNames,
    tmp_path: Path,
    llm_sim: LlmSimulator,
    gateway: GatewayClient,
) -> None:
    control, turns = visit_messages("model-1", TEXTS, llm_model="claude-3-haiku-20240307")
    await publish_shuffled(redis, names, control, turns)
    async with running_notes(notes_settings(db, names, tmp_path), db, redis, gateway):
        await eventually(lambda: _is(db, "model-1", EncounterStatus.NEEDS_REVIEW), timeout=60)
    enc = await _enc(db, "model-1")
    assert enc.failure_stage == "notes"
    assert "HTTP 400" in enc.failure_reason
    assert llm_sim.stats.count(status=400) == 2  # structured, then plain text; no loop


async def test_capped_attempts_then_needs_review_then_regenerated(
    db: Database,
    redis: aioredis.Redis,
    names: StreamNames,
    tmp_path: Path,
    llm_sim: LlmSimulator,
    gateway: GatewayClient,
) -> None:
    llm_sim.config.down = True
    control, turns = visit_messages("cap-1", TEXTS)
    await publish_shuffled(redis, names, control, turns)
    settings = notes_settings(db, names, tmp_path, note_max_attempts=3)
    async with running_notes(settings, db, redis, gateway):
        await eventually(lambda: _is(db, "cap-1", EncounterStatus.NEEDS_REVIEW), timeout=60)
        enc = await _enc(db, "cap-1")
        assert enc.note_attempts == 3
        assert enc.failure_stage == "notes"
        assert "3 times" in enc.failure_reason
        assert await _notes(db, "cap-1") == []
        served = llm_sim.stats.count(status=503)
        # A person regenerates it once the gateway is back: written, failure cleared.
        llm_sim.config.down = False
        async with db.session() as s:
            await repo.request_note(s, "cap-1")
        await eventually(lambda: _is(db, "cap-1", EncounterStatus.READY), timeout=60)
    assert served == 3 * 2  # three jobs, each the client's two attempts; then no more
    enc = await _enc(db, "cap-1")
    assert enc.failure_stage is None
    assert enc.failure_reason is None
    assert len(await _notes(db, "cap-1")) == 1
