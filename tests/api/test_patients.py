"""Patient context (issue 26): the front desk assigns the next patient to a room, the
room's next visit carries them (name, MRN, date of birth, reason) into the list, the
search, every export and the FHIR subject; a visit recorded without a clinician waits in
the unassigned queue until a clinician claims it. Audit rows never name the patient."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from services.notes.api.app import create_app
from services.notes.db import repo
from services.notes.db.engine import Database
from services.notes.db.migrate import upgrade_async
from services.notes.db.models import AuditEntry, Note
from services.notes.exporter import export_encounter
from services.notes.soap_format import render
from shared.contracts import EncounterStarted, StreamNames
from tests.api.seeding import SECTIONS, add_role_tokens, bearer
from tests.kit.api import make_settings

PATIENT = {
    "patient_name": "Asha Patel",
    "mrn": "MRN-40417",
    "dob": "1961-03-09",
    "visit_reason": "Follow-up of type 2 diabetes",
    "clinician": "dr-a",
}


class Desk:
    def __init__(self, db: Database, client: httpx.AsyncClient, tokens: dict[str, str],
                 exports: Path) -> None:  # fmt: skip
        self.db, self.client, self.tokens, self.exports = db, client, tokens, exports

    async def call(self, method: str, path: str, who: str, **kw: Any) -> httpx.Response:
        headers = {**bearer(self.tokens[who]), **kw.pop("headers", {})}
        return await self.client.request(method, path, headers=headers, **kw)

    async def start(self, eid: str, room: str, clinician: str | None = None) -> None:
        """What the notes consumer does with the room's EncounterStarted."""
        msg = EncounterStarted(
            encounter_id=eid, room=room, llm_model="claude-haiku-4-5-20251001",
            clinician=clinician, started_at=datetime(2026, 12, 4, 15, 12, tzinfo=UTC),
        )  # fmt: skip
        async with self.db.session() as s:
            await repo.upsert_encounter_started(s, msg)


@pytest.fixture
async def desk(
    any_db_url: str, redis_url: str, names: StreamNames, redis: Any, tmp_path: Path
) -> AsyncIterator[Desk]:
    await upgrade_async(any_db_url)
    db = Database(any_db_url)
    exports = tmp_path / "exports"
    app = create_app(make_settings(any_db_url, redis_url, names, exports), db, redis)
    transport = httpx.ASGITransport(app=app, client=("10.0.0.5", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://api.test") as client:
        yield Desk(db, client, await add_role_tokens(db), exports)
    await db.dispose()


async def test_the_room_s_next_visit_carries_the_assigned_patient(desk: Desk) -> None:
    made = await desk.call("POST", "/v1/rooms/exam-3/assignments", "staff", json=PATIENT)
    assert made.status_code == 201, made.text
    assert made.json()["patient"] == {"name": "Asha Patel", "mrn": "MRN-40417",
                                      "dob": "1961-03-09"}  # fmt: skip
    pending = await desk.call("GET", "/v1/rooms/exam-3/assignments", "staff")
    assert [a["id"] for a in pending.json()["items"]] == [made.json()["id"]]

    await desk.start("exam-3-20261204-151205-8bfd824e", "exam-3")
    await desk.start("exam-3-20261204-160000-00000001", "exam-3")  # nobody assigned next
    await desk.start("exam-4-20261204-151300-aaaaaaaa", "exam-4")  # another room
    first = await desk.call("GET", "/v1/encounters/exam-3-20261204-151205-8bfd824e", "clin-a")
    assert first.status_code == 200, first.text
    body = first.json()
    assert body["patient"] == {"name": "Asha Patel", "mrn": "MRN-40417", "dob": "1961-03-09"}
    assert body["visit_reason"] == "Follow-up of type 2 diabetes"
    assert body["clinician"] == "dr-a"
    second = await desk.call("GET", "/v1/encounters/exam-3-20261204-160000-00000001", "staff")
    assert second.json()["patient"] is None
    assert (await desk.call("GET", "/v1/rooms/exam-3/assignments", "staff")).json()["items"] == []

    for q in ("patel", "MRN-40417", "exam-3-20261204-151205-8bfd824e"):
        found = await desk.call("POST", "/v1/encounters/search", "staff", json={"q": q})
        assert [e["id"] for e in found.json()["items"]] == ["exam-3-20261204-151205-8bfd824e"], q

    files = await export_encounter(desk.db, desk.exports, "exam-3-20261204-151205-8bfd824e",
                                   UTC)  # fmt: skip
    transcript = files.transcript.read_text()
    assert "Patient: Asha Patel · MRN MRN-40417 · DOB 1961-03-09" in transcript
    assert "Reason for visit: Follow-up of type 2 diabetes" in transcript

    async with desk.db.session() as s:
        rows = (await s.scalars(select(AuditEntry))).all()
    text = json.dumps([[r.action, r.target, r.encounter_id] for r in rows])
    assert "room.assign" in text
    assert "Patel" not in text
    assert "40417" not in text


async def test_unassigned_visits_are_claimed_once(desk: Desk) -> None:
    eid = "exam-5-20261204-090000-11111111"
    await desk.start(eid, "exam-5", clinician=None)
    mine = await desk.call("GET", "/v1/encounters", "clin-a")
    assert eid not in [e["id"] for e in mine.json()["items"]]
    queue = await desk.call("GET", "/v1/encounters?unassigned=true", "clin-a")
    assert [e["id"] for e in queue.json()["items"]] == [eid]

    claimed = await desk.call("POST", f"/v1/encounters/{eid}/claim", "clin-a", json={})
    assert claimed.status_code == 200, claimed.text
    assert claimed.json()["clinician"] == "dr-a"
    again = await desk.call("POST", f"/v1/encounters/{eid}/claim", "clin-a", json={})
    assert again.status_code == 200  # idempotent
    other = await desk.call("POST", f"/v1/encounters/{eid}/claim", "clin-b", json={})
    assert other.status_code == 404  # not theirs to see: no existence leak
    admin = await desk.call("POST", f"/v1/encounters/{eid}/claim", "admin",
                            json={"clinician": "dr-b"})  # fmt: skip
    assert admin.status_code == 409
    mine = await desk.call("GET", "/v1/encounters", "clin-a")
    assert eid in [e["id"] for e in mine.json()["items"]]
    async with desk.db.session() as s:
        rows = (
            await s.scalars(select(AuditEntry).where(AuditEntry.action == "encounter.claim"))
        ).all()
    assert sorted(r.status for r in rows) == [200, 200, 404, 409]


async def test_fhir_subject_and_signed_header(desk: Desk) -> None:
    await desk.call("POST", "/v1/rooms/exam-6/assignments", "staff", json=PATIENT)
    eid = "exam-6-20261204-100000-22222222"
    await desk.start(eid, "exam-6")

    async with desk.db.session() as s:
        text = render(SECTIONS)
        s.add(Note(encounter_id=eid, version=1, kind="generated", status="draft", text=text,
                   sections=SECTIONS, model="m", author="system"))  # fmt: skip
        enc = await repo.get_encounter(s, eid)
        assert enc is not None
        enc.status = "ready"
    files = await export_encounter(desk.db, desk.exports, eid, UTC)
    assert files.note is not None
    head = files.note.read_text().split("\n\n", 1)[0].splitlines()
    assert head[0] == "DRAFT — NOT SIGNED"
    assert head[1] == "Patient: Asha Patel · MRN MRN-40417 · DOB 1961-03-09"
    signed = await desk.call("POST", f"/v1/encounters/{eid}/note/sign", "clin-a",
                             headers={"If-Match": '"v1"'})  # fmt: skip
    assert signed.status_code == 200, signed.text
    fhir = await desk.call("GET", f"/v1/encounters/{eid}/fhir", "clin-a")
    assert fhir.status_code == 200, fhir.text
    subject = fhir.json()["subject"]
    assert subject["display"] == "Asha Patel"
    assert subject["identifier"]["value"] == "MRN-40417"
    files = await export_encounter(desk.db, desk.exports, eid, UTC)
    assert files.note is not None
    assert files.note.read_text().startswith("Signed by clin-a at ")
    note_b64 = fhir.json()["content"][0]["attachment"]["data"]
    assert base64.b64decode(note_b64).decode().startswith("Subjective:")


@pytest.mark.parametrize(
    ("body", "who", "status"),
    [
        ({**PATIENT, "dob": "2999-01-01"}, "staff", 422),
        ({**PATIENT, "patient_name": "Bad\x00name"}, "staff", 422),
        ({**PATIENT, "patient_name": ""}, "staff", 422),
        ({**PATIENT, "mrn": "12 34"}, "staff", 422),
        ({**PATIENT, "extra": 1}, "staff", 422),
        (PATIENT, "clin-a", 403),
        (PATIENT, "auditor", 403),
    ],
)
async def test_bad_assignments_are_refused(
    desk: Desk, body: dict[str, Any], who: str, status: int
) -> None:
    r = await desk.call("POST", "/v1/rooms/exam-7/assignments", who, json=body)
    assert r.status_code == status, r.text
    pending = await desk.call("GET", "/v1/rooms/exam-7/assignments", "staff")
    assert pending.json()["items"] == []


async def test_cancel_only_pending_assignments(desk: Desk) -> None:
    made = (await desk.call("POST", "/v1/rooms/exam-8/assignments", "staff", json=PATIENT)).json()
    other_room = await desk.call("DELETE", f"/v1/rooms/exam-9/assignments/{made['id']}", "staff")
    assert other_room.status_code == 404
    await desk.start("exam-8-20261204-110000-33333333", "exam-8")
    used = await desk.call("DELETE", f"/v1/rooms/exam-8/assignments/{made['id']}", "staff")
    assert used.status_code == 409
    fresh = (await desk.call("POST", "/v1/rooms/exam-8/assignments", "staff", json=PATIENT)).json()
    gone = await desk.call("DELETE", f"/v1/rooms/exam-8/assignments/{fresh['id']}", "staff")
    assert gone.status_code == 204
    assert date.fromisoformat(made["patient"]["dob"]) == date(1961, 3, 9)
