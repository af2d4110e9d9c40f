"""Notes written through the real LLM Gateway simulator, on SQLite and PostgreSQL."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis

from services.notes.db import repo
from services.notes.db.engine import Database
from services.notes.soap import SoapWriter
from services.notes.status import EncounterStatus
from shared.acibench import Dialogue
from shared.contracts import StreamNames
from shared.evidence import open_high_flags
from shared.gateway import GatewayClient
from shared.logging import configure_logging
from shared.prompts import NOT_DISCUSSED
from simulators.llm_server import LlmSimulator
from tests.kit.factories import visit_messages
from tests.kit.notes import encounter_status, notes_settings, publish_shuffled, running_notes
from tests.kit.waiting import eventually

ROLE_LABEL = {"doctor": "A", "patient": "B"}


def dialogue_visit(
    dialogue: Dialogue, encounter_id: str, **kw: Any
) -> tuple[list[Any], list[Any], list[str]]:
    texts = [t.text for t in dialogue.turns]
    speakers: list[str | None] = [ROLE_LABEL.get(t.speaker, "C") for t in dialogue.turns]
    control, turns = visit_messages(encounter_id, texts, speakers=speakers, **kw)
    return control, turns, texts


async def _notes(db: Database, encounter_id: str) -> list[Any]:
    async with db.session() as s:
        return await repo.note_history(s, encounter_id)


def assert_grounded(sections: dict[str, list[str]], texts: list[str]) -> None:
    """Four sections; every bullet is said in the visit (the simulator is extractive)."""
    assert sorted(sections) == ["assessment", "objective", "plan", "subjective"]
    spoken = " ".join(" ".join(t.split()) for t in texts)
    bullets = [b for bs in sections.values() for b in bs if b != NOT_DISCUSSED]
    assert bullets, "the note has no content"
    for bullet in bullets:
        assert bullet in spoken, "a bullet is not in the transcript"


async def test_aci_dialogue_note_grounded_exported(
    db: Database,
    redis: aioredis.Redis,
    names: StreamNames,
    tmp_path: Path,
    llm_sim: LlmSimulator,
    gateway: GatewayClient,
    aci_dialogues: list[Dialogue],
) -> None:
    dialogue = aci_dialogues[0]
    control, turns, texts = dialogue_visit(dialogue, "aci-1", llm_model="gemini-2.5-flash")
    await publish_shuffled(redis, names, control, turns)
    settings = notes_settings(db, names, tmp_path)
    async with running_notes(settings, db, redis, gateway) as metrics:
        await eventually(lambda: _is(db, "aci-1", EncounterStatus.READY), timeout=60)
        await eventually(lambda: _exported_with_note(tmp_path / "aci-1"), timeout=60)
    notes = await _notes(db, "aci-1")
    assert [(n.version, n.kind, n.status, n.model) for n in notes] == [
        (1, "generated", "draft", "gemini-2.5-flash")
    ]
    assert_grounded(notes[0].sections, texts)
    assert llm_sim.stats.tasks["soap"] == 1
    # Structured output: every statement stored with the turn the model cited, unflagged.
    assert llm_sim.stats.recent[-1]["response_format"]["type"] == "json_schema"
    evidence = notes[0].evidence or []
    said = [s for s in evidence if s["text"] != NOT_DISCUSSED]
    assert len(evidence) == sum(len(v) for v in notes[0].sections.values())
    assert said
    assert all(s["links"] == "model" and len(s["seqs"]) == 1 for s in said)
    assert all(s["text"] in " ".join(texts[s["seqs"][0]].split()) for s in said)
    assert open_high_flags(evidence) == 0
    assert llm_sim.stats.count(model="gemini-2.5-flash", status=200) == 1  # the visit's model
    assert metrics.stop_to_note._sum.get() > 0  # type: ignore[attr-defined]

    async with db.session() as s:
        enc = await repo.get_encounter(s, "aci-1")
    assert enc is not None
    assert enc.speaker_roles == {"A": "clinician", "B": "patient"}

    folder = tmp_path / "aci-1"
    transcript = next(folder.glob("encounter_transcript_20261129_090000.txt")).read_text()
    head, body = transcript.split("=" * 80 + "\n\n")
    assert head.startswith("Clinical Encounter Transcript\nDate: 2026-11-29 09:00:00\n")
    lines = body.splitlines()
    assert len(lines) == len(texts)
    pattern = re.compile(r"^\[\d\d:\d\d:\d\d\] (Clinician|Patient|Other): (.+)$")
    for line, text in zip(lines, texts, strict=True):
        m = pattern.match(line)
        assert m is not None
        assert m.group(2) == " ".join(text.split())
    note_file = (folder / "clinical_note_soap_20261129_090000.txt").read_text()
    head, body = note_file.split("\n\n", 1)
    # Whose visit and whether it is signed, above the note exactly as the guide saved it.
    assert head.splitlines()[0] == "DRAFT — NOT SIGNED"
    assert "Visit: 2026-11-29 09:00" in head
    assert body == notes[0].text
    data = json.loads((folder / "encounter.json").read_text())
    assert len(data["turns"]) == len(texts)
    assert data["notes"][0]["sections"] == notes[0].sections
    assert data["encounter"]["speaker_roles"] == {"A": "clinician", "B": "patient"}
    assert not list(folder.glob(".*.tmp"))  # atomic writes leave no temporaries


async def _is(db: Database, encounter_id: str, status: str) -> bool:
    return await encounter_status(db, encounter_id) == status


async def _turns_stored(db: Database, encounter_id: str, n: int) -> bool:
    async with db.session() as s:
        return len(await repo.turn_seqs(s, encounter_id)) == n


async def _exported_with_note(folder: Path) -> bool:
    """The export that carries the note (the transcript's own export may come first)."""
    data = folder / "encounter.json"
    if not data.exists() or not list(folder.glob("clinical_note_soap_*.txt")):
        return False
    return bool(json.loads(data.read_text()).get("notes"))  # written atomically


async def test_gateway_down_then_up_note_appears_once(
    db: Database,
    redis: aioredis.Redis,
    names: StreamNames,
    tmp_path: Path,
    llm_sim: LlmSimulator,
    gateway: GatewayClient,
    aci_dialogues: list[Dialogue],
) -> None:
    llm_sim.config.down = True
    control, turns, _ = dialogue_visit(aci_dialogues[1], "down-1")
    await publish_shuffled(redis, names, control, turns)
    settings = notes_settings(db, names, tmp_path)
    async with running_notes(settings, db, redis, gateway) as metrics:

        async def deferred_twice() -> bool:
            async with db.session() as s:
                enc = await repo.get_encounter(s, "down-1")
            return enc is not None and enc.note_attempts >= 2

        await eventually(deferred_twice, timeout=60)
        async with db.session() as s:
            enc = await repo.get_encounter(s, "down-1")
        assert enc is not None
        assert enc.status == EncounterStatus.NOTE_PENDING
        assert enc.note_error == "GatewayUnavailable"
        assert await _notes(db, "down-1") == []
        assert metrics.gateway_errors.labels(error="GatewayUnavailable")._value.get() >= 2  # type: ignore[attr-defined]

        llm_sim.config.down = False
        await eventually(lambda: _is(db, "down-1", EncounterStatus.READY), timeout=60)
    notes = await _notes(db, "down-1")
    assert len(notes) == 1
    assert llm_sim.stats.tasks["soap"] == 1
    async with db.session() as s:
        enc = await repo.get_encounter(s, "down-1")
    assert enc is not None
    assert enc.note_error is None
    assert enc.note_attempts == 0


async def test_missing_turn_note_after_grace_with_gap_recorded(
    db: Database,
    redis: aioredis.Redis,
    names: StreamNames,
    tmp_path: Path,
    gateway: GatewayClient,
    aci_dialogues: list[Dialogue],
) -> None:
    control, turns, texts = dialogue_visit(aci_dialogues[2], "gap-1", skip=(3,))
    await publish_shuffled(redis, names, [], turns)
    settings = notes_settings(db, names, tmp_path, grace_period_s=1.0)
    async with running_notes(settings, db, redis, gateway):
        await eventually(lambda: _turns_stored(db, "gap-1", len(texts) - 1), timeout=60)
        await publish_shuffled(redis, names, control, [])
        await eventually(lambda: _is(db, "gap-1", EncounterStatus.NEEDS_REVIEW), timeout=60)
        await eventually(lambda: _exported_with_note(tmp_path / "gap-1"), timeout=60)
    notes = await _notes(db, "gap-1")
    assert len(notes) == 1
    assert notes[0].missing_seqs == [3]
    assert notes[0].status == "needs_review"
    assert notes[0].problem == "written without 1 turn(s) that never arrived"
    assert_grounded(notes[0].sections, texts[:3] + texts[4:])
    async with db.session() as s:
        enc = await repo.get_encounter(s, "gap-1")
    assert enc is not None
    assert enc.missing_seqs == [3]
    transcript = next((tmp_path / "gap-1").glob("encounter_transcript_*.txt")).read_text()
    assert "Incomplete: 1 turn(s) were not received" in transcript
    body = transcript.split("=" * 80 + "\n\n")[1].splitlines()
    assert body[3] == "[--:--:--] (missing: 1 turn(s) not received: 3)"
    assert (tmp_path / "gap-1").glob("clinical_note_soap_*.txt")
    note_file = next((tmp_path / "gap-1").glob("clinical_note_soap_*.txt")).read_text()
    assert note_file.startswith("DRAFT — NOT SIGNED\n")
    assert "\nNOTE: written without 1 turn(s) that never arrived.\n" in note_file

    # The lost turn turns up after all: the system's gap note is written again, complete.
    late = next(t for t in visit_messages("gap-1", texts)[1] if t.seq == 3)
    await publish_shuffled(redis, names, [], [late])
    async with running_notes(settings, db, redis, gateway):
        await eventually(lambda: _is(db, "gap-1", EncounterStatus.READY), timeout=60)
    notes = await _notes(db, "gap-1")
    assert [(n.version, n.kind, n.status, n.missing_seqs) for n in notes] == [
        (1, "generated", "needs_review", [3]),
        (2, "regenerated", "draft", None),
    ]
    assert_grounded(notes[1].sections, texts)
    async with db.session() as s:
        enc = await repo.get_encounter(s, "gap-1")
    assert enc is not None
    assert enc.missing_seqs is None


async def test_malformed_reply_retried_once_then_ok(
    db: Database,
    redis: aioredis.Redis,
    names: StreamNames,
    tmp_path: Path,
    llm_sim: LlmSimulator,
    gateway: GatewayClient,
    aci_dialogues: list[Dialogue],
) -> None:
    llm_sim.config.soap_malformed = 1
    control, turns, texts = dialogue_visit(aci_dialogues[3], "bad-1")
    await publish_shuffled(redis, names, control, turns)
    async with running_notes(notes_settings(db, names, tmp_path), db, redis, gateway):
        await eventually(lambda: _is(db, "bad-1", EncounterStatus.READY), timeout=60)
    notes = await _notes(db, "bad-1")
    assert len(notes) == 1
    assert notes[0].problem is None
    assert_grounded(notes[0].sections, texts)
    assert llm_sim.stats.tasks["soap"] == 2


async def test_malformed_twice_is_stored_for_review(
    db: Database,
    redis: aioredis.Redis,
    names: StreamNames,
    tmp_path: Path,
    llm_sim: LlmSimulator,
    gateway: GatewayClient,
    aci_dialogues: list[Dialogue],
) -> None:
    llm_sim.config.soap_malformed = 2
    control, turns, _ = dialogue_visit(aci_dialogues[4], "bad-2")
    await publish_shuffled(redis, names, control, turns)
    async with running_notes(notes_settings(db, names, tmp_path), db, redis, gateway):
        await eventually(lambda: _is(db, "bad-2", EncounterStatus.NEEDS_REVIEW), timeout=60)
    notes = await _notes(db, "bad-2")
    assert len(notes) == 1
    assert notes[0].status == "needs_review"
    assert notes[0].problem == ("the model's note was malformed twice: missing section(s): Plan")
    assert notes[0].text.startswith("Subjective:")  # the reply kept for the reviewer
    assert "Plan:" not in notes[0].text
    assert llm_sim.stats.tasks["soap"] == 2


class RecordingClient:
    """Passes requests to the real gateway client and keeps each transcript's size."""

    def __init__(self, inner: GatewayClient) -> None:
        self.inner = inner
        self.sizes: list[int] = []

    async def chat(self, model: str, messages: list[dict[str, str]], **kw: Any) -> Any:
        user = messages[-1]["content"]
        body = user.split("<transcript>\n", 1)[1].rsplit("\n</transcript>", 1)[0]
        self.sizes.append(len(body))
        return await self.inner.chat(model, messages, **kw)


NEUTRAL = (
    "Okay, and what did you do on day {i} of the trip?",
    "We walked along the river and looked at the boats number {i}.",
    "Right, and the weather there was nice most of the week {i}?",
    "Yes, mostly sunny, and my sister came along on stop {i}.",
)
# One finding per section, said at the start, middle and very end of the hour.
FINDINGS = {
    5: ("subjective", "My knee pain started three weeks ago after a fall."),
    350: ("objective", "On exam there is swelling over the left knee."),
    600: ("assessment", "This looks like a sprain of the medial ligament."),
    698: ("plan", "I'm going to prescribe ibuprofen 400 mg twice daily for ten days."),
    699: ("plan", "Please come back in two weeks for a follow-up visit."),
}


async def test_700_turn_visit_is_summarised_in_parts_not_cut(
    db: Database,
    redis: aioredis.Redis,
    names: StreamNames,
    tmp_path: Path,
    llm_sim: LlmSimulator,
    gateway: GatewayClient,
) -> None:
    texts = [
        FINDINGS[i][1] if i in FINDINGS else NEUTRAL[i % len(NEUTRAL)].format(i=i)
        for i in range(700)
    ]
    speakers: list[str | None] = ["A" if i % 2 == 0 else "B" for i in range(700)]
    control, turns = visit_messages("long-1", texts, speakers=speakers)
    # Stored directly (one transaction): the stream path is covered elsewhere; this test
    # is about the note of a visit far larger than one request.
    async with db.session() as s:
        await repo.upsert_encounter_started(s, control[0])
        await repo.mark_stopped(s, control[1])
        await repo.mark_transcribed(s, control[2])
        for turn in turns:
            await repo.upsert_turn(s, turn)
    budget = 8_000
    client = RecordingClient(gateway)
    settings = notes_settings(db, names, tmp_path, soap_budget_chars=budget)
    async with running_notes(settings, db, redis, client):
        await eventually(lambda: _is(db, "long-1", EncounterStatus.READY), timeout=120)
    total = sum(len(f"Clinician: {t}") + 1 for t in texts)
    assert total > 5 * budget  # the whole visit would not fit in one request
    assert max(client.sizes) <= budget
    assert len(client.sizes) >= 6  # at least 5 parts and a merge
    assert len(client.sizes) == llm_sim.stats.tasks["soap"]
    notes = await _notes(db, "long-1")
    assert len(notes) == 1
    assert notes[0].problem is None
    assert_grounded(notes[0].sections, texts)
    for section, finding in FINDINGS.values():  # start, middle and end all reached the note
        assert finding in notes[0].sections[section]


async def test_no_transcript_or_note_text_in_logs(
    db: Database,
    redis: aioredis.Redis,
    names: StreamNames,
    tmp_path: Path,
    gateway: GatewayClient,
) -> None:
    canary = "Zebrafinch7731"
    texts = [
        f"Hello {canary}, how are you feeling today?",
        f"My {canary} knee pain started two weeks ago and it hurts.",
        f"I will prescribe {canary} ibuprofen 400 mg twice daily for the pain.",
    ]
    control, turns = visit_messages("phi-1", texts, speakers=["A", "B", "A"], skip=(1,))
    await publish_shuffled(redis, names, control, turns)
    buf = io.StringIO()
    configure_logging("DEBUG", "json", "notes", stream=buf)
    try:
        settings = notes_settings(db, names, tmp_path, grace_period_s=0.5)
        async with running_notes(settings, db, redis, gateway):
            await eventually(lambda: _is(db, "phi-1", EncounterStatus.NEEDS_REVIEW), timeout=60)
    finally:
        configure_logging("WARNING", "json", "notes")
    notes = await _notes(db, "phi-1")
    assert canary in notes[0].text  # it did reach the note...
    logs = buf.getvalue()
    assert "note_stored" in logs
    assert canary not in logs  # ...and never the logs


async def test_note_longer_than_max_tokens_is_written_in_parts(
    llm_sim: LlmSimulator, gateway: GatewayClient, aci_dialogues: list[Dialogue]
) -> None:
    # The simulator cuts replies at max_tokens like a real gateway (finish_reason=length);
    # this dialogue's one-request note does not fit in 1200 tokens.
    dialogue = max(aci_dialogues, key=lambda d: d.words)
    lines = [
        f"{'Clinician' if t.speaker == 'doctor' else 'Patient'}: {t.text}" for t in dialogue.turns
    ]
    client = RecordingClient(gateway)
    writer = SoapWriter(client, max_tokens=1200, budget_chars=60_000)
    written = await writer.write("claude-sonnet-4-6", lines, has_roles=True)
    assert client.sizes[0] == len("\n".join(lines))  # first: the whole visit at once
    assert written.requests > 2  # then parts and a merge instead of a truncated note
    assert written.parts >= 2
    assert "cut off" not in (written.problem or "")
    assert_grounded(written.sections, [t.text for t in dialogue.turns])


async def test_visit_without_speech_gets_an_empty_note_for_review_without_a_call(
    db: Database,
    redis: aioredis.Redis,
    names: StreamNames,
    tmp_path: Path,
    llm_sim: LlmSimulator,
    gateway: GatewayClient,
) -> None:
    control, _ = visit_messages("quiet-1", [], turn_count=0)
    await publish_shuffled(redis, names, control, [])
    async with running_notes(notes_settings(db, names, tmp_path), db, redis, gateway):
        await eventually(lambda: _is(db, "quiet-1", EncounterStatus.NEEDS_REVIEW), timeout=60)
    notes = await _notes(db, "quiet-1")
    assert [(n.problem, n.model) for n in notes] == [("no speech was transcribed", None)]
    assert notes[0].text == "Subjective:\n\nObjective:\n\nAssessment:\n\nPlan:\n"
    assert llm_sim.stats.tasks["soap"] == 0


async def test_stopping_mid_note_hands_the_job_back(
    db: Database,
    redis: aioredis.Redis,
    names: StreamNames,
    tmp_path: Path,
    llm_sim: LlmSimulator,
    gateway: GatewayClient,
    aci_dialogues: list[Dialogue],
) -> None:
    llm_sim.config.latency_s = 30.0  # the request is still running when we stop
    control, turns, _ = dialogue_visit(aci_dialogues[5], "stop-1")
    await publish_shuffled(redis, names, control, turns)
    settings = notes_settings(db, names, tmp_path)
    async with running_notes(settings, db, redis, gateway):

        async def calling() -> bool:
            return llm_sim.stats.in_flight >= 1

        await eventually(calling, timeout=60)
    async with db.session() as s:
        enc = await repo.get_encounter(s, "stop-1")
    assert enc is not None
    assert enc.status == EncounterStatus.NOTE_PENDING
    assert enc.note_lease_owner is None  # released: no waiting for the lease to run out
    llm_sim.config.latency_s = 0.0
    async with running_notes(settings, db, redis, gateway):
        await eventually(lambda: _is(db, "stop-1", EncounterStatus.READY), timeout=60)
    assert len(await _notes(db, "stop-1")) == 1


async def test_transcription_that_never_finishes_still_gets_a_note(
    db: Database,
    redis: aioredis.Redis,
    names: StreamNames,
    tmp_path: Path,
    gateway: GatewayClient,
    aci_dialogues: list[Dialogue],
) -> None:
    control, turns, texts = dialogue_visit(aci_dialogues[6], "lost-1")
    started, stopped, transcribed = control
    settings = notes_settings(db, names, tmp_path, transcription_timeout_s=1.0)
    async with running_notes(settings, db, redis, gateway):
        # Every turn is stored before the stop arrives: the stop is long past its timeout
        # (its time is the dialogue's), and a loaded machine must not let the note be
        # written from half the turns (a race the test is not about).
        await publish_shuffled(redis, names, [], turns)

        async def all_stored() -> bool:
            async with db.session() as s:
                return len(await repo.turn_seqs(s, "lost-1")) == len(turns)

        await eventually(all_stored, timeout=60)
        await publish_shuffled(redis, names, [started, stopped], [])  # no Transcribed
        await eventually(lambda: _is(db, "lost-1", EncounterStatus.NEEDS_REVIEW), timeout=60)
        notes = await _notes(db, "lost-1")
        assert notes[0].problem == (
            "the transcription never finished; written from the turns received"
        )
        assert_grounded(notes[0].sections, texts)
        # The STT side comes back and reports the count: all turns were there after all.
        await publish_shuffled(redis, names, [transcribed], [])
        await eventually(lambda: _is(db, "lost-1", EncounterStatus.READY), timeout=60)
    notes = await _notes(db, "lost-1")
    assert [(n.version, n.kind, n.problem) for n in notes[1:]] == [(2, "regenerated", None)]
    async with db.session() as s:
        enc = await repo.get_encounter(s, "lost-1")
    assert enc is not None
    assert (enc.failure_reason, enc.expected_turns) == (None, len(texts))
