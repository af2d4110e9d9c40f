"""Roles consistent across STT sessions (issue 21, point 6): every session labels its
speakers from "A" again, so roles are decided per session-namespaced label, never by the
bare letter; a clinic's fixed mapping names the first session's labels only."""

from __future__ import annotations

import json
import re
from pathlib import Path

import redis.asyncio as aioredis

from services.notes.db import repo
from services.notes.db.engine import Database
from services.notes.speakers import CLINICIAN, PATIENT, SpokenTurn, guess_roles, resolve_roles
from shared.contracts import (
    EditedTurn,
    EncounterTranscribed,
    Message,
    SpeakerRevised,
    StreamNames,
)
from shared.gateway import GatewayClient
from shared.streams import publish
from simulators.llm_server import LlmSimulator
from tests.kit.factories import visit_messages
from tests.kit.notes import notes_settings, publish_shuffled, running_notes
from tests.kit.waiting import eventually

DOC = ("How long has the knee hurt?", "Any fever or swelling?", "Let me examine the knee.",
       "I'm going to prescribe ibuprofen 400 mg twice a day.")  # fmt: skip
PAT = ("About three weeks now, since I fell on the stairs.", "No fever, just some swelling.",
       "It hurts most when I climb the stairs at work.",
       "Thank you, that sounds good.")  # fmt: skip


def _visit(sessions: list[tuple[str, str]]) -> list[SpokenTurn]:
    """Alternating doctor/patient turns; each session labels (doctor, patient) as given."""
    turns: list[SpokenTurn] = []
    for n, (doc, pat) in enumerate(sessions, start=1):
        prefix = "" if n == 1 else f"{n}:"
        for i in range(2):
            turns.append(SpokenTurn(prefix + doc, DOC[(n + i) % 4]))
            turns.append(SpokenTurn(prefix + pat, PAT[(n + i) % 4]))
    return turns


def test_a_later_session_with_swapped_letters_keeps_the_roles() -> None:
    roles = guess_roles(_visit([("A", "B"), ("B", "A"), ("A", "B")]))
    assert roles == {
        "A": CLINICIAN, "B": PATIENT, "2:B": CLINICIAN, "2:A": PATIENT,
        "3:A": CLINICIAN, "3:B": PATIENT,
    }  # fmt: skip


def test_a_session_with_one_speaker_takes_the_role_it_resembles() -> None:
    turns = _visit([("A", "B")])
    turns += [SpokenTurn("2:A", PAT[0]), SpokenTurn("3:A", DOC[0]), SpokenTurn("3:A", DOC[1])]
    roles = guess_roles(turns)
    assert roles["2:A"] == PATIENT  # "A" of session 2 is the patient who spoke alone
    assert roles["3:A"] == CLINICIAN
    assert (roles["A"], roles["B"]) == (CLINICIAN, PATIENT)


def test_one_session_is_ranked_as_before() -> None:
    turns = [SpokenTurn("B", DOC[0]), SpokenTurn("A", PAT[0]), SpokenTurn("UNKNOWN", "Hm.")]
    assert guess_roles(turns) == {"B": CLINICIAN, "A": PATIENT}
    lone = [SpokenTurn("A", DOC[0]), SpokenTurn("2:A", PAT[1])]  # nobody shares a session
    assert guess_roles(lone) == {"A": CLINICIAN, "2:A": PATIENT}


def test_fixed_mapping_names_the_first_sessions_labels_and_stored_roles_win() -> None:
    turns = _visit([("A", "B"), ("B", "A")])
    configured = {"A": CLINICIAN, "B": PATIENT}
    roles = resolve_roles(turns, None, configured)
    assert roles["2:B"] == CLINICIAN  # not "B" -> patient: session 2 labelled anew
    assert roles["2:A"] == PATIENT
    stored = {"2:A": CLINICIAN}  # the clinician's correction is kept as made
    assert resolve_roles(turns, stored, configured)["2:A"] == CLINICIAN


# -- revised labels through the notes service ---------------------------------------------

TEXTS = [DOC[0], PAT[0], DOC[1], PAT[1], DOC[3], PAT[2]]
HEARD = ["A", "B", "A", "A", "B", "B"]  # seqs 3 and 4 first heard with the wrong speaker
REVISED = (SpeakerRevised(seq=3, speaker="B"), SpeakerRevised(seq=4, speaker="A"))
ROLE_OF = {"A": "Clinician", "B": "Patient"}
TRUE = ["A", "B", "A", "B", "A", "B"]


def _revised_visit(eid: str) -> tuple[list[Message], list[EditedTurn]]:
    control, turns = visit_messages(eid, TEXTS, speakers=list(HEARD))
    done = control[-1]
    assert isinstance(done, EncounterTranscribed)
    control[-1] = done.model_copy(update={"speaker_revisions": REVISED})
    return control, turns


def _soap_transcripts(llm_sim: LlmSimulator) -> list[list[str]]:
    """The transcript lines of every SOAP request of these visits (seq prefixes cut)."""
    out = []
    for body in llm_sim.stats.recent:
        user = body["messages"][-1]["content"]
        if TEXTS[3] in user and "<transcript>" in user:
            inner = user.split("<transcript>\n", 1)[1].rsplit("\n</transcript>", 1)[0]
            out.append([re.sub(r"^\[\d+\] ", "", line) for line in inner.splitlines()])
    return out


async def test_revised_labels_reach_stored_turns_transcript_and_note(
    db: Database,
    redis: aioredis.Redis,
    names: StreamNames,
    tmp_path: Path,
    llm_sim: LlmSimulator,
    gateway: GatewayClient,
) -> None:
    """Revisions that arrive before the turns (kept on the encounter) and after them
    (written into the stored turns) both end in the transcript file and the note."""
    early_ctl, early_turns = _revised_visit("rev-early")
    await publish_shuffled(redis, names, early_ctl, early_turns)  # control first
    late_ctl, late_turns = _revised_visit("rev-late")
    for t in late_turns:
        await publish(redis, names.edited, t)
    settings = notes_settings(db, names, tmp_path)
    async with running_notes(settings, db, redis, gateway):
        await eventually(lambda: _stored(db, "rev-late", len(TEXTS)), timeout=60)
        for msg in late_ctl:  # the turns are stored with the labels first heard
            await publish(redis, names.control, msg)
        for eid in ("rev-early", "rev-late"):
            await eventually(
                lambda eid=eid: _exported_with_note(tmp_path / eid),  # type: ignore[misc]
                timeout=60,
            )
    for eid in ("rev-early", "rev-late"):
        async with db.session() as s:
            turns = await repo.list_turns(s, eid)
            enc = await repo.get_encounter(s, eid)
        assert [t.speaker for t in turns] == TRUE
        assert enc is not None
        assert enc.speaker_roles == {"A": "clinician", "B": "patient"}
        body = next((tmp_path / eid).glob("encounter_transcript_*.txt")).read_text()
        lines = body.split("=" * 80 + "\n\n", 1)[1].splitlines()
        assert [line.split("] ", 1)[1] for line in lines] == [
            f"{ROLE_OF[who]}: {text}" for who, text in zip(TRUE, TEXTS, strict=True)
        ]
    want = [f"{ROLE_OF[who]}: {text}" for who, text in zip(TRUE, TEXTS, strict=True)]
    soaps = _soap_transcripts(llm_sim)
    assert len(soaps) == 2  # one note each, both told who said what as revised
    assert all(lines == want for lines in soaps)


async def _stored(db: Database, eid: str, n: int) -> bool:
    async with db.session() as s:
        return len(await repo.list_turns(s, eid)) == n


async def _exported_with_note(folder: Path) -> bool:
    data = folder / "encounter.json"
    if not data.exists():
        return False
    try:
        return bool(json.loads(data.read_text())["notes"])
    except (ValueError, KeyError):
        return False
