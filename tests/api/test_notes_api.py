"""Note reads and writes: ETag/If-Match, the locked signed note and its addenda, the
text download's header, regeneration requests.

The core paths run on SQLite and on PostgreSQL (skipped when it is not reachable), over a
database migrated with Alembic, as `medscribe notes migrate` leaves it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from services.notes.api.app import create_app
from services.notes.db import repo
from services.notes.db.engine import Database
from services.notes.db.migrate import upgrade_async
from services.notes.db.models import AuditEntry, Encounter
from shared.contracts import StreamNames
from tests.api.seeding import SECTIONS, add_encounter, add_role_tokens, bearer
from tests.kit.api import make_settings

EDIT = {
    "sections": {
        "subjective": ["Dry cough for two weeks, worse at night."],
        "objective": ["Scattered expiratory wheezes."],
        "assessment": ["Reactive airway disease."],
        "plan": ["Albuterol as needed.", "Return in two weeks."],
    }
}


class Api:
    """A client on the real app over a migrated database (SQLite or PostgreSQL)."""

    def __init__(self, db: Database, client: httpx.AsyncClient, tokens: dict[str, str]) -> None:
        self.db, self.client, self.tokens = db, client, tokens

    async def call(self, method: str, path: str, who: str = "clin-a", **kw: Any) -> httpx.Response:
        headers = {**bearer(self.tokens[who]), **kw.pop("headers", {})}
        return await self.client.request(method, path, headers=headers, **kw)


@pytest.fixture
async def api(
    any_db_url: str, redis_url: str, names: StreamNames, redis: Any, tmp_path: Path
) -> AsyncIterator[Api]:
    await upgrade_async(any_db_url)
    db = Database(any_db_url)
    app: FastAPI = create_app(
        make_settings(any_db_url, redis_url, names, tmp_path / "exports"), db, redis
    )
    transport = httpx.ASGITransport(app=app, client=("10.0.0.7", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://api.test") as client:
        yield Api(db, client, await add_role_tokens(db))
    await db.dispose()


async def test_read_note_with_etag_and_history(api: Api) -> None:
    enc = await add_encounter(api.db, clinician="dr-a")
    r = await api.call("GET", f"/v1/encounters/{enc.encounter_id}/note")
    assert r.status_code == 200
    assert r.headers["etag"] == '"v1"'
    body = r.json()
    assert body["version"] == 1
    assert body["etag"] == '"v1"'
    assert body["sections"] == SECTIONS
    assert body["text"].startswith("Subjective:\n- Dry cough")
    hist = await api.call("GET", f"/v1/encounters/{enc.encounter_id}/note/versions")
    assert [v["version"] for v in hist.json()["versions"]] == [1]


async def test_edit_requires_if_match_and_detects_conflicts(api: Api) -> None:
    enc = await add_encounter(api.db, clinician="dr-a", status="needs_review")
    path = f"/v1/encounters/{enc.encounter_id}/note"
    missing = await api.call("PUT", path, json=EDIT)
    assert missing.status_code == 428
    stale = await api.call("PUT", path, json=EDIT, headers={"If-Match": '"v7"'})
    assert stale.status_code == 412
    assert stale.headers["etag"] == '"v1"'
    ok = await api.call("PUT", path, json=EDIT, headers={"If-Match": '"v1"'})
    assert ok.status_code == 200, ok.text
    assert ok.headers["etag"] == '"v2"'
    assert ok.json()["kind"] == "edited"
    assert ok.json()["author"] == "clin-a"
    assert ok.json()["sections"] == EDIT["sections"]
    # The same (now stale) ETag again: the second writer loses, nothing is overwritten.
    again = await api.call("PUT", path, json={"sections": SECTIONS}, headers={"If-Match": '"v1"'})
    assert again.status_code == 412
    current = await api.call("GET", path)
    assert current.json()["version"] == 2
    assert current.json()["sections"] == EDIT["sections"]
    async with api.db.session() as s:
        enc_row = await s.get(Encounter, enc.encounter_id)
        assert enc_row is not None
        assert enc_row.status == "ready"


async def test_concurrent_edits_of_one_version_one_wins(api: Api) -> None:
    enc = await add_encounter(api.db, clinician="dr-a")
    path = f"/v1/encounters/{enc.encounter_id}/note"
    variants = [
        {"sections": {**EDIT["sections"], "plan": [f"Plan variant {i}."]}} for i in range(4)
    ]
    results = await asyncio.gather(
        *(api.call("PUT", path, json=v, headers={"If-Match": '"v1"'}) for v in variants)
    )
    codes = sorted(r.status_code for r in results)
    assert codes == [200, 412, 412, 412], [r.text for r in results]
    versions = (await api.call("GET", path + "/versions")).json()["versions"]
    assert [v["version"] for v in versions] == [1, 2]


async def test_sign_locks_the_note_and_addenda_append_dated_text(api: Api) -> None:
    enc = await add_encounter(api.db, clinician="dr-a")
    base = f"/v1/encounters/{enc.encounter_id}/note"
    early = await api.call("POST", base + "/addendum", json={"text": "Too early."})
    assert early.status_code == 409  # an unsigned note is edited, not amended
    wrong = await api.call("POST", base + "/sign", headers={"If-Match": '"v2"'})
    assert wrong.status_code == 412
    signed = await api.call("POST", base + "/sign", headers={"If-Match": '"v1"'})
    assert signed.status_code == 200, signed.text
    assert signed.json()["status"] == "signed"
    assert signed.json()["signed_by"] == "clin-a"
    twice = await api.call("POST", base + "/sign")
    assert twice.status_code == 409
    detail = await api.call("GET", f"/v1/encounters/{enc.encounter_id}")
    assert detail.json()["status"] == "signed"
    assert detail.json()["amended_at"] is None
    # Locked: an edit is refused, whatever the ETag, and nothing is stored.
    for tag in ('"v1"', "*"):
        edit = await api.call("PUT", base, json=EDIT, headers={"If-Match": tag})
        assert edit.status_code == 409, edit.text
        assert "locked" in edit.json()["detail"]
    draft = await api.call("PUT", base + "/draft", json={**EDIT, "base_version": 1})
    assert draft.status_code == 409
    blank = await api.call("POST", base + "/addendum", json={"text": "   "})
    assert blank.status_code == 422
    added = await api.call(
        "POST", base + "/addendum", json={"text": "Called back: cough resolved."}
    )
    assert added.status_code == 201, added.text
    body = added.json()
    assert (body["version"], body["kind"], body["status"]) == (2, "addendum", "signed")
    assert body["author"] == "clin-a"
    # The signature it amends stays; the addendum is dated and attributed below the text.
    assert (body["signed_by"], body["signed_at"]) == (
        signed.json()["signed_by"],
        signed.json()["signed_at"],
    )
    assert body["sections"] == SECTIONS
    assert body["text"].startswith(signed.json()["text"].rstrip("\n") + "\n\nAddendum ")
    assert "UTC by clin-a:\nCalled back: cough resolved." in body["text"]
    assert [(a["author"], a["text"]) for a in body["addenda"]] == [
        ("clin-a", "Called back: cough resolved.")
    ]
    second = await api.call(
        "POST", base + "/addendum", json={"text": "Second call."}, headers={"If-Match": '"v1"'}
    )
    assert second.status_code == 412  # made on a version that is no longer current
    second = await api.call(
        "POST", base + "/addendum", json={"text": "Second call."}, headers={"If-Match": '"v2"'}
    )
    assert second.status_code == 201
    assert [a["text"] for a in second.json()["addenda"]] == [
        "Called back: cough resolved.",
        "Second call.",
    ]
    versions = (await api.call("GET", base + "/versions")).json()["versions"]
    assert [(v["version"], v["kind"], v["status"]) for v in versions] == [
        (1, "generated", "signed"),
        (2, "addendum", "signed"),
        (3, "addendum", "signed"),
    ]
    assert versions[0]["text"] == signed.json()["text"]  # the signed text never changes
    detail = await api.call("GET", f"/v1/encounters/{enc.encounter_id}")
    assert detail.json()["status"] == "signed"
    assert detail.json()["amended_at"] is not None
    regen = await api.call("POST", base + "/regenerate", json={})
    assert regen.status_code == 409
    other = await api.call("POST", base + "/addendum", json={"text": "x"}, who="clin-b")
    assert other.status_code == 404
    admin = await api.call("POST", base + "/addendum", json={"text": "x"}, who="admin")
    assert admin.status_code == 403


async def test_note_text_download_is_marked_draft_or_signed(api: Api) -> None:
    enc = await add_encounter(api.db, clinician="dr-a")
    async with api.db.session() as s:
        row = await s.get(Encounter, enc.encounter_id)
        assert row is not None
        row.patient_name, row.patient_mrn = "Asha Patel", "MRN-77"
    base = f"/v1/encounters/{enc.encounter_id}/note"
    text = {"Accept": "text/plain"}
    draft = await api.call("GET", base, headers=text)
    assert draft.status_code == 200
    assert draft.headers["content-type"].startswith("text/plain")
    head = draft.text.split("\n\n", 1)[0]
    assert head.splitlines()[0] == "DRAFT — NOT SIGNED"
    assert "Asha Patel" in head
    assert "MRN-77" in head
    assert "Clinician: dr-a" in head
    assert "Visit: " in head
    await api.call("POST", base + "/sign", headers={"If-Match": '"v1"'})
    await api.call("POST", base + "/addendum", json={"text": "Later note."})
    final = await api.call("GET", base, headers=text)
    assert final.text.startswith("Signed by clin-a at ")
    assert "DRAFT" not in final.text
    assert final.text.rstrip().endswith("Later note.")


async def test_regenerate_hands_the_encounter_to_the_scheduler(api: Api) -> None:
    enc = await add_encounter(api.db, clinician="dr-a", status="needs_review")
    path = f"/v1/encounters/{enc.encounter_id}/note/regenerate"
    bad = await api.call("POST", path, json={"model": "gpt-4o"})
    assert bad.status_code == 422
    assert "must be one of" in bad.json()["detail"][0]["msg"]
    r = await api.call("POST", path, json={"model": "gemini-2.5-flash"})
    assert r.status_code == 202, r.text
    assert r.json()["status"] == "note_pending"
    assert r.json()["model"] == "gemini-2.5-flash"
    async with api.db.session() as s:
        row = await s.get(Encounter, enc.encounter_id)
        assert row is not None
        assert (row.status, row.llm_model) == ("note_pending", "gemini-2.5-flash")
        # The notes scheduler's own query now finds it as a due job.
        jobs = await repo.pending_note_jobs(s, repo.utcnow(), grace_s=120)
        assert enc.encounter_id in {j.encounter_id for j in jobs}
    twice = await api.call("POST", path, json={})
    assert twice.status_code == 409  # already pending


async def test_regenerate_refuses_unfinished_encounters(api: Api) -> None:
    rec = await add_encounter(api.db, clinician="dr-a", status="recording", note=None)
    r = await api.call("POST", f"/v1/encounters/{rec.encounter_id}/note/regenerate")
    assert r.status_code == 409
    assert r.json() == {"detail": "the encounter is recording; its note is not done yet"}


async def test_note_absent_and_unknown_encounter(api: Api) -> None:
    rec = await add_encounter(api.db, clinician="dr-a", status="transcribing", note=None)
    r = await api.call("GET", f"/v1/encounters/{rec.encounter_id}/note")
    assert r.status_code == 404
    assert r.json() == {"detail": "this encounter has no note yet"}
    put = await api.call(
        "PUT", f"/v1/encounters/{rec.encounter_id}/note", json=EDIT, headers={"If-Match": "*"}
    )
    assert put.status_code == 409
    for path in ("", "/note", "/transcript", "/note/versions", "/fhir"):
        r = await api.call("GET", f"/v1/encounters/no-such-visit{path}", who="admin")
        assert r.status_code == 404, path
        assert r.json() == {"detail": "no such encounter"}


async def test_every_read_and_change_is_audited(api: Api) -> None:
    enc = await add_encounter(api.db, clinician="dr-a")
    eid = enc.encounter_id
    await api.call("GET", f"/v1/encounters/{eid}")
    await api.call("GET", f"/v1/encounters/{eid}/transcript")
    await api.call("GET", f"/v1/encounters/{eid}/note")
    await api.call("PUT", f"/v1/encounters/{eid}/note", json=EDIT, headers={"If-Match": '"v1"'})
    await api.call("GET", f"/v1/encounters/{eid}/note", who="clin-b")  # refused
    async with api.db.session() as s:
        rows = (
            await s.scalars(
                select(AuditEntry).where(AuditEntry.encounter_id == eid).order_by(AuditEntry.id)
            )
        ).all()
    assert [(r.actor, r.role, r.action, r.target, r.status, r.source_ip) for r in rows] == [
        ("clin-a", "clinician", "encounter.read", None, 200, "10.0.0.7"),
        ("clin-a", "clinician", "transcript.read", "json", 200, "10.0.0.7"),
        ("clin-a", "clinician", "note.read", "v1", 200, "10.0.0.7"),
        ("clin-a", "clinician", "note.update", "v2", 200, "10.0.0.7"),
        ("clin-b", "clinician", "note.read", None, 404, "10.0.0.7"),
    ]
    assert all(r.at is not None for r in rows)


async def test_stored_notes_are_served_whatever_their_shape(api: Api) -> None:
    """Input limits apply to edits, not to what the note writer stored."""
    enc = await add_encounter(api.db, clinician="dr-a")
    long_bullet = "Long statement. " * 400
    async with api.db.session() as s:
        await repo.add_note_version(
            s,
            enc.encounter_id,
            kind="regenerated",
            status="needs_review",
            text="Plan:\n- " + long_bullet,
            sections={"plan": [long_bullet, "tab\there"], "subjective": []},
            model="claude-sonnet-4-6",
            author="system",
            problem="section missing",
        )
    r = await api.call("GET", f"/v1/encounters/{enc.encounter_id}/note")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["sections"]["plan"] == [long_bullet, "tab\there"]
    assert body["sections"]["objective"] == []
    assert body["problem"] == "section missing"
