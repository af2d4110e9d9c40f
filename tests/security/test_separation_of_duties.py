"""Issue 20 item 12: only the encounter's clinician edits and signs its note; an admin
manages tokens and may not, and every refusal is audited."""

from __future__ import annotations

import httpx
from sqlalchemy import func, select

from services.notes.db.engine import Database
from services.notes.db.models import AuditEntry, Note
from tests.api.seeding import SECTIONS, add_encounter, bearer
from tests.kit.console import sign_in


async def test_an_admin_neither_edits_nor_signs_a_note(
    client: httpx.AsyncClient, db: Database, tokens: dict[str, str]
) -> None:
    enc = await add_encounter(db, clinician="dr-a")
    url = f"/v1/encounters/{enc.encounter_id}/note"
    admin = bearer(tokens["admin"])
    edit = await client.put(url, json={"sections": SECTIONS}, headers={**admin, "If-Match": "*"})
    sign = await client.post(f"{url}/sign", json={"acknowledge_flags": True}, headers=admin)
    assert (edit.status_code, sign.status_code) == (403, 403)
    assert (await client.get(url, headers=admin)).status_code == 200  # reading stays
    # Even with a clinician token the admin made for that clinician's id, the
    # signature names that token, and its creation is in the audit log.
    made = await client.post(
        "/v1/tokens", json={"name": "stand-in", "role": "clinician", "clinician_id": "dr-a"},
        headers=admin,
    )  # fmt: skip
    assert made.status_code == 201
    async with db.session() as s:
        notes = await s.scalar(
            select(func.count()).select_from(Note).where(Note.encounter_id == enc.encounter_id)
        )
        rows = (await s.scalars(select(AuditEntry).where(AuditEntry.actor == "admin"))).all()
    assert notes == 1
    audited = {(r.action, r.status) for r in rows}
    assert {("note.update", 403), ("note.sign", 403), ("token.create", 201)} <= audited
    # The clinician signs.
    own = await client.post(f"{url}/sign", headers=bearer(tokens["clin-a"]))
    assert own.status_code == 200
    assert own.json()["signed_by"] == "clin-a"


async def test_the_console_offers_an_admin_no_edit_or_sign(
    client: httpx.AsyncClient, db: Database, tokens: dict[str, str]
) -> None:
    enc = await add_encounter(db, clinician="dr-a")
    await sign_in(client, tokens["admin"])
    page = await client.get(f"/encounters/{enc.encounter_id}")
    assert page.status_code == 200
    assert 'id="sign"' not in page.text
    assert 'id="save"' not in page.text
    assert 'data-may-write="false"' in page.text
    assert 'id="regen-form"' in page.text  # writing the note again stays an admin's
