"""Save & sign in one request (issue 26): the clinician's final text, their attestation and
the high flags they acknowledge are saved and signed in one transaction, on SQLite and
PostgreSQL. A high flag not acknowledged refuses with the flags listed, and then nothing
is saved; bad input is refused with a clear answer and loses nothing."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from services.notes.db.models import AuditEntry, Encounter, Note
from tests.api.seeding import SECTIONS, add_encounter
from tests.api.test_notes_api import Api, api  # noqa: F401 - the fixture

WARFARIN = "Start warfarin 5 mg daily."
ALBUTEROL = "Trial of albuterol inhaler."
EDITED = {**SECTIONS, "plan": [*SECTIONS["plan"], WARFARIN]}
MATCH = {"If-Match": '"v1"'}


def body(sections: dict[str, list[str]] = EDITED, **extra: Any) -> dict[str, Any]:
    return {"sections": sections, "attest": True, **extra}


async def versions(api: Api, eid: str) -> list[tuple[int, str, str | None]]:  # noqa: F811
    async with api.db.session() as s:
        rows = (
            await s.scalars(select(Note).where(Note.encounter_id == eid).order_by(Note.version))
        ).all()
    return [(n.version, n.status, n.signed_by) for n in rows]


async def sign_audit(api: Api, eid: str) -> list[tuple[int, str | None]]:  # noqa: F811
    async with api.db.session() as s:
        rows = (
            await s.scalars(
                select(AuditEntry)
                .where(AuditEntry.action == "note.sign", AuditEntry.encounter_id == eid)
                .order_by(AuditEntry.id)
            )
        ).all()
    return [(r.status, r.target) for r in rows]


async def test_unacknowledged_flags_refuse_with_the_list_and_save_nothing(
    api: Api,  # noqa: F811
) -> None:
    eid = (await add_encounter(api.db, clinician="dr-a", status="needs_review")).encounter_id
    path = f"/v1/encounters/{eid}/note/save-and-sign"

    refused = await api.call("POST", path, json=body(), headers=MATCH)
    assert refused.status_code == 409, refused.text
    listed = refused.json()
    assert "not acknowledged" in listed["detail"]
    flagged = {st["text"]: st for st in listed["flags"]}
    assert set(flagged) == {WARFARIN, ALBUTEROL}  # the typed drug and the scribe's own
    for st in flagged.values():
        assert st["section"] == "plan"
        assert st["flags"]
        assert all(f["severity"] == "high" for f in st["flags"])
    assert {f["term"].lower() for f in flagged[WARFARIN]["flags"]} >= {"warfarin"}
    assert await versions(api, eid) == [(1, "draft", None)]  # nothing saved, nothing signed

    # Acknowledging one of them is not enough: the other is listed alone.
    ack_albuterol = [
        {"statement": ALBUTEROL, "term": f["term"]} for f in flagged[ALBUTEROL]["flags"]
    ]
    partial = await api.call("POST", path, json=body(acknowledged=ack_albuterol), headers=MATCH)
    assert partial.status_code == 409
    assert [st["text"] for st in partial.json()["flags"]] == [WARFARIN]
    assert await versions(api, eid) == [(1, "draft", None)]

    # Every flag acknowledged (whitespace and case as typed do not matter): saved and signed.
    ack_all = ack_albuterol + [
        {"statement": "  start WARFARIN 5 mg   daily. ", "term": f["term"].upper()}
        for f in flagged[WARFARIN]["flags"]
    ]
    done = await api.call("POST", path, json=body(acknowledged=ack_all), headers=MATCH)
    assert done.status_code == 200, done.text
    note = done.json()
    assert (note["version"], note["kind"], note["status"]) == (2, "edited", "signed")
    assert note["signed_by"] == "clin-a"
    assert note["author"] == "clin-a"
    assert WARFARIN in note["sections"]["plan"]
    assert done.headers["etag"] == '"v2"'
    assert await versions(api, eid) == [(1, "draft", None), (2, "signed", "clin-a")]
    async with api.db.session() as s:
        enc = await s.get(Encounter, eid)
        assert enc is not None
        assert enc.status == "signed"
    audit = await sign_audit(api, eid)
    assert [s for s, _ in audit] == [409, 409, 200]
    target = audit[-1][1] or ""
    assert target.startswith("v2 saved and signed, attested, acknowledged ")
    assert "warfarin" not in target.lower()  # no note text in the audit

    # Locked now: another save & sign is refused, the text stays as signed.
    v2 = {"If-Match": '"v2"'}
    again = await api.call("POST", path, json=body(acknowledged=ack_all), headers=v2)
    assert again.status_code == 409
    assert "addendum" in again.json()["detail"]


async def test_unchanged_text_signs_the_version_read(api: Api) -> None:  # noqa: F811
    eid = (await add_encounter(api.db, clinician="dr-a")).encounter_id
    path = f"/v1/encounters/{eid}/note/save-and-sign"
    # Only whitespace differs from v1: no new version.
    spaced = {k: [f" {item}  " for item in v] for k, v in SECTIONS.items()}
    done = await api.call("POST", path, json=body(spaced), headers=MATCH)
    assert done.status_code == 200, done.text
    assert (done.json()["version"], done.json()["kind"]) == (1, "generated")
    assert await versions(api, eid) == [(1, "signed", "clin-a")]
    assert (await sign_audit(api, eid))[-1] == (200, "v1 signed, attested")


async def test_bad_requests_are_refused_clearly_and_change_nothing(api: Api) -> None:  # noqa: F811
    eid = (await add_encounter(api.db, clinician="dr-a")).encounter_id
    path = f"/v1/encounters/{eid}/note/save-and-sign"
    no_match = await api.call("POST", path, json=body())
    assert no_match.status_code == 428
    stale = await api.call("POST", path, json=body(), headers={"If-Match": '"v7"'})
    assert stale.status_code == 412
    assert stale.headers["etag"] == '"v1"'
    for bad in (
        {"sections": EDITED},  # no attestation
        body(attest=False),
        body(attest="yes"),
        body(sections={"plan": []}),  # empty note
        body(acknowledged=[{"statement": "x"}]),
        body(acknowledged=[{"statement": "x", "term": "y", "extra": 1}]),
        body(sections={**EDITED, "plan": ["bad\x00byte"]}),
        {**body(), "sign_anyway": True},
    ):
        r = await api.call("POST", path, json=bad, headers=MATCH)
        assert r.status_code == 422, (bad, r.text)
        assert "warfarin" not in r.text.lower()  # the sent text is not echoed
    not_json = await api.call(
        "POST", path, content=b"{", headers={**MATCH, "Content-Type": "application/json"}
    )
    assert not_json.status_code == 422
    assert await versions(api, eid) == [(1, "draft", None)]
    no_note = (await add_encounter(api.db, clinician="dr-a", note=None)).encounter_id
    r = await api.call(
        "POST", f"/v1/encounters/{no_note}/note/save-and-sign", json=body(), headers=MATCH
    )
    assert r.status_code == 409
    # Another clinician's visit answers like an unknown one; staff may not sign.
    other = await api.call("POST", path, json=body(), headers=MATCH, who="clin-b")
    assert other.status_code == 404
    staff = await api.call("POST", path, json=body(), headers=MATCH, who="staff")
    assert staff.status_code == 403
    assert await versions(api, eid) == [(1, "draft", None)]
