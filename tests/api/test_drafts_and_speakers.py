"""Server-side drafts (saved as the clinician types) and speaker corrections, on SQLite and
PostgreSQL: a draft is its author's alone and goes when the note is saved or signed; a
swap or a per-turn correction shows in the transcript, the export and the note prompt."""

from __future__ import annotations

from sqlalchemy import select

from services.notes import transcript
from services.notes.db import repo
from services.notes.db.models import AuditEntry, NoteDraft
from tests.api.seeding import SECTIONS, add_encounter
from tests.api.test_notes_api import EDIT, Api, api  # noqa: F401 - the fixture

DRAFT = {"sections": {**SECTIONS, "plan": ["Follow up in a week."]}, "base_version": 1}


async def test_draft_round_trip_is_private_and_goes_with_save(api: Api) -> None:  # noqa: F811
    enc = await add_encounter(api.db, clinician="dr-a")
    path = f"/v1/encounters/{enc.encounter_id}/note/draft"
    none = await api.call("GET", path)
    assert none.status_code == 404
    saved = await api.call("PUT", path, json=DRAFT)
    assert saved.status_code == 200, saved.text
    assert saved.json()["base_version"] == 1
    again = await api.call("PUT", path, json={**DRAFT, "sections": EDIT["sections"]})
    assert again.status_code == 200  # replaces, never a second draft
    got = await api.call("GET", path)
    assert got.json()["sections"] == EDIT["sections"]
    async with api.db.session() as s:
        assert len((await s.scalars(select(NoteDraft))).all()) == 1
    # Nobody else reads it, not even an admin (it is unsaved note text).
    assert (await api.call("GET", path, who="clin-b")).status_code == 404
    assert (await api.call("GET", path, who="admin")).status_code == 403
    assert (await api.call("GET", path, who="staff")).status_code == 403
    bad = await api.call("PUT", path, json={"sections": {"plan": ["x"]}, "base_version": 0})
    assert bad.status_code == 422
    # Saving the note makes the draft the note: the draft goes.
    put = await api.call(
        "PUT", f"/v1/encounters/{enc.encounter_id}/note", json=EDIT, headers={"If-Match": '"v1"'}
    )
    assert put.status_code == 200
    assert (await api.call("GET", path)).status_code == 404
    await api.call("PUT", path, json={**DRAFT, "base_version": 2})
    gone = await api.call("DELETE", path)
    assert gone.status_code == 204
    assert (await api.call("GET", path)).status_code == 404
    async with api.db.session() as s:
        rows = (
            await s.scalars(
                select(AuditEntry).where(
                    AuditEntry.action == "note.draft", AuditEntry.actor == "clin-a"
                )
            )
        ).all()
    # Audited like any note access, without the text.
    assert [r.status for r in rows] == [404, 200, 200, 200, 404, 200, 204, 404]
    assert not any("Follow up" in (r.target or "") for r in rows)


async def test_signing_drops_drafts(api: Api) -> None:  # noqa: F811
    enc = await add_encounter(api.db, clinician="dr-a")
    base = f"/v1/encounters/{enc.encounter_id}/note"
    assert (await api.call("PUT", base + "/draft", json=DRAFT)).status_code == 200
    assert (await api.call("POST", base + "/sign")).status_code == 200
    assert (await api.call("GET", base + "/draft")).status_code == 404


async def test_swap_speakers_and_correct_one_turn(api: Api) -> None:  # noqa: F811
    enc = await add_encounter(api.db, clinician="dr-a", turns=4)
    eid = enc.encounter_id
    before = (await api.call("GET", f"/v1/encounters/{eid}/transcript")).json()["turns"]
    swap = await api.call("POST", f"/v1/encounters/{eid}/speakers/swap")
    assert swap.status_code == 200, swap.text
    assert swap.json()["speaker_roles"] == {"A": "patient", "B": "clinician"}
    after = (await api.call("GET", f"/v1/encounters/{eid}/transcript")).json()["turns"]
    flip = {"clinician": "patient", "patient": "clinician"}
    assert [t["speaker_role"] for t in after] == [flip[t["speaker_role"]] for t in before]
    one = await api.call("PUT", f"/v1/encounters/{eid}/turns/1/role", json={"role": "other"})
    assert one.status_code == 200, one.text
    assert one.json()["turn_roles"] == {"1": "other"}
    turns = (await api.call("GET", f"/v1/encounters/{eid}/transcript")).json()["turns"]
    assert turns[1]["speaker_role"] == "other"
    assert turns[0]["speaker_role"] == after[0]["speaker_role"]
    # The note writer reads the same lines: the corrected roles flow into the next note.
    async with api.db.session() as s:
        row = await repo.get_encounter(s, eid)
        stored = await repo.list_turns(s, eid)
        assert row is not None
        assert row.speaker_roles is not None
        lines = transcript.lines_of(row, stored, row.speaker_roles, None)
    assert [line.role_name for line in lines][:2] == [
        after[0]["speaker_role"].title(),
        "Other",
    ]
    text = await api.call(
        "GET", f"/v1/encounters/{eid}/transcript", headers={"Accept": "text/plain"}
    )
    assert "] Other: " in text.text
    undo = await api.call("PUT", f"/v1/encounters/{eid}/turns/1/role", json={"role": None})
    assert undo.json()["turn_roles"] == {}
    assert (
        await api.call("PUT", f"/v1/encounters/{eid}/turns/99/role", json={"role": "patient"})
    ).status_code == 404
    assert (
        await api.call("PUT", f"/v1/encounters/{eid}/turns/1/role", json={"role": "nurse"})
    ).status_code == 422
    assert (
        await api.call("POST", f"/v1/encounters/{eid}/speakers/swap", who="staff")
    ).status_code == 403
    async with api.db.session() as s:
        targets = (
            await s.scalars(
                select(AuditEntry.target).where(
                    AuditEntry.action == "speakers.edit", AuditEntry.status == 200
                )
            )
        ).all()
    assert list(targets) == ["swap", "turn=1 role=other", "turn=1 role=speaker"]


async def test_speakers_of_a_signed_visit_stay(api: Api) -> None:  # noqa: F811
    enc = await add_encounter(api.db, clinician="dr-a", note="signed", status="signed")
    r = await api.call("POST", f"/v1/encounters/{enc.encounter_id}/speakers/swap")
    assert r.status_code == 409
