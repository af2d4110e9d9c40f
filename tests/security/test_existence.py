"""Issue 20 item 9: another clinician's encounter answers exactly like an unknown id."""

from __future__ import annotations

import httpx
from sqlalchemy import select

from services.notes.db.engine import Database
from services.notes.db.models import AuditEntry
from tests.api.seeding import SECTIONS, add_encounter, bearer
from tests.kit.console import sign_in

PATHS = ("", "/transcript", "/note", "/note/versions", "/fhir", "/events")


async def test_api_answers_404_for_anothers_encounter_like_for_an_unknown_id(
    client: httpx.AsyncClient, db: Database, tokens: dict[str, str]
) -> None:
    theirs = await add_encounter(db, clinician="dr-b", note="signed")
    auth = bearer(tokens["clin-a"])
    for path in PATHS:
        other = await client.get(f"/v1/encounters/{theirs.encounter_id}{path}", headers=auth)
        unknown = await client.get(f"/v1/encounters/enc-unknown{path}", headers=auth)
        assert (other.status_code, other.json()) == (unknown.status_code, unknown.json()), path
        assert other.status_code == 404, path
    writes = (
        ("PUT", "/note", {"sections": SECTIONS}, {"If-Match": '"v1"'}),
        ("POST", "/note/sign", None, {}),
        ("POST", "/note/regenerate", {}, {}),
        ("POST", "/events/ticket", None, {}),
    )
    for method, path, body, headers in writes:
        other = await client.request(
            method, f"/v1/encounters/{theirs.encounter_id}{path}", json=body,
            headers={**auth, **headers},
        )  # fmt: skip
        assert other.status_code == 404, path
        assert other.json() == {"detail": "no such encounter"}
    # The refusals are still audited, with the status the caller saw.
    async with db.session() as s:
        rows = (
            await s.scalars(
                select(AuditEntry).where(AuditEntry.encounter_id == theirs.encounter_id)
            )
        ).all()
    assert rows
    assert {(r.actor, r.status) for r in rows} == {("clin-a", 404)}


async def test_console_page_answers_404_for_anothers_encounter(
    client: httpx.AsyncClient, db: Database, tokens: dict[str, str]
) -> None:
    theirs = await add_encounter(db, clinician="dr-b")
    mine = await add_encounter(db, clinician="dr-a")
    await sign_in(client, tokens["clin-a"])
    assert (await client.get(f"/encounters/{mine.encounter_id}")).status_code == 200
    other = await client.get(f"/encounters/{theirs.encounter_id}")
    unknown = await client.get("/encounters/enc-unknown")
    assert (other.status_code, unknown.status_code) == (404, 404)
    assert other.text == unknown.text
