"""The note scheduler's failure policy (issue 23, step 3): the gateway unavailable is
deferred with backoff; anything else (a bug, a database blip) is logged with its class,
counted on its own metric (not as a gateway error), retried and capped, and the encounter
ends in needs_review with a reason that says which it was and never the error's text."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import redis.asyncio as aioredis
import structlog

from services.notes.config import NotesSettings
from services.notes.db import repo
from services.notes.db.engine import Database
from services.notes.status import EncounterStatus
from shared.contracts import StreamNames
from shared.gateway import GatewayClient
from tests.kit.factories import visit_messages
from tests.kit.notes import notes_settings, publish_shuffled, running_notes
from tests.kit.waiting import eventually

SECRET = "patient says the secret word tamarind"


class BuggyClient:
    """A gateway client with a bug: the first ``fails`` calls raise a non-gateway error
    whose message carries visit text, then it hands over to the real client."""

    def __init__(self, real: GatewayClient, fails: int) -> None:
        self.real, self.fails, self.calls = real, fails, 0

    async def chat(self, model: str, messages: list[dict[str, str]], **kw: Any) -> Any:
        self.calls += 1
        if self.calls <= self.fails:
            raise KeyError(SECRET)
        return await self.real.chat(model, messages, **kw)


async def _state(db: Database, encounter_id: str) -> tuple[str, int, str | None, str | None]:
    async with db.session() as s:
        enc = await repo.get_encounter(s, encounter_id)
    assert enc is not None
    return enc.status, enc.note_attempts, enc.note_error, enc.failure_reason


async def _is(db: Database, encounter_id: str, status: str) -> bool:
    async with db.session() as s:
        enc = await repo.get_encounter(s, encounter_id)
    return enc is not None and enc.status == status


async def _visit(redis: aioredis.Redis, names: StreamNames, encounter_id: str) -> None:
    control, turns = visit_messages(encounter_id, ["Any chest pain?", "No chest pain at all."])
    await publish_shuffled(redis, names, control, turns)


def _settings(db: Database, names: StreamNames, tmp_path: Path) -> NotesSettings:
    return notes_settings(db, names, tmp_path, grace_period_s=0.5, note_max_attempts=3)


async def test_a_bug_is_counted_as_itself_and_capped(
    db: Database, redis: aioredis.Redis, names: StreamNames, tmp_path: Path,
    gateway: GatewayClient,
) -> None:  # fmt: skip
    await _visit(redis, names, "bug-1")
    client = BuggyClient(gateway, fails=10**6)
    with structlog.testing.capture_logs() as logs:
        async with running_notes(_settings(db, names, tmp_path), db, redis, client) as metrics:
            await eventually(lambda: _is(db, "bug-1", EncounterStatus.NEEDS_REVIEW), timeout=180)
    status, _, error, reason = await _state(db, "bug-1")
    assert status == EncounterStatus.NEEDS_REVIEW
    assert error == "KeyError"
    assert reason is not None
    assert "internal error (KeyError)" in reason
    assert "3 times" in reason
    assert "LLM Gateway" not in reason
    assert client.calls == 3  # capped: no fourth try
    assert metrics.note_errors.labels(error="KeyError")._value.get() == 3
    gateway_errors = metrics.gateway_errors.labels(error="KeyError")._value.get()
    assert gateway_errors == 0
    errors = [e for e in logs if e["event"] == "note_job_error"]
    assert len(errors) == 3
    assert all(e["error"] == "KeyError" for e in errors)
    assert SECRET not in repr(logs)
    async with db.session() as s:
        assert await repo.note_history(s, "bug-1") == []


async def test_a_bug_that_goes_away_leaves_a_normal_note(
    db: Database, redis: aioredis.Redis, names: StreamNames, tmp_path: Path,
    gateway: GatewayClient,
) -> None:  # fmt: skip
    await _visit(redis, names, "bug-2")
    client = BuggyClient(gateway, fails=1)
    async with running_notes(_settings(db, names, tmp_path), db, redis, client) as metrics:
        await eventually(lambda: _is(db, "bug-2", EncounterStatus.READY), timeout=180)
    status, attempts, error, _ = await _state(db, "bug-2")
    assert (status, attempts, error) == (EncounterStatus.READY, 0, None)
    assert metrics.note_errors.labels(error="KeyError")._value.get() == 1
