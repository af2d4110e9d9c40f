"""Signing a note with open high-severity flags needs an explicit, audited
acknowledgement; a clinician's edit is checked like the model's note. Real app, real
database (SQLite, and PostgreSQL when reachable) migrated with Alembic."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from services.notes.api.app import create_app
from services.notes.config import NotesSettings
from services.notes.db.engine import Database
from services.notes.db.migrate import upgrade_async
from services.notes.db.models import AuditEntry
from shared.contracts import StreamNames
from tests.api.seeding import add_encounter, add_role_tokens, bearer

# The seeded visit: a dry cough for two weeks, no fever, wheezing at night.
PARAPHRASE = {
    "subjective": ["Dry cough x 2 weeks.", "Wheezing at night; denies fever."],
    "objective": ["Not discussed."],
    "assessment": ["Cough with nocturnal wheezing."],
    "plan": ["Follow up in two weeks."],
}
FABRICATED = {**PARAPHRASE, "plan": ["Start albuterol inhaler.", "Follow up in two weeks."]}
UNACKNOWLEDGED = (
    "the note has unsupported high-severity statements; review them or sign with acknowledge_flags"
)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'notes.db'}"
    return str(request.getfixturevalue("postgres_url"))


class Api:
    def __init__(self, db: Database, client: httpx.AsyncClient, tokens: dict[str, str]) -> None:
        self.db, self.client, self.tokens = db, client, tokens

    async def call(self, method: str, path: str, **kw: Any) -> httpx.Response:
        headers = {**bearer(self.tokens["clin-a"]), **kw.pop("headers", {})}
        return await self.client.request(method, path, headers=headers, **kw)

    async def audit(self, encounter_id: str) -> list[tuple[str, str | None, int]]:
        async with self.db.session() as s:
            rows = await s.scalars(
                select(AuditEntry)
                .where(AuditEntry.encounter_id == encounter_id, AuditEntry.action == "note.sign")
                .order_by(AuditEntry.id)
            )
            return [(r.action, r.target, r.status) for r in rows]


@pytest.fixture
async def api(
    db_url: str, redis_url: str, names: StreamNames, redis: Any, tmp_path: Path
) -> AsyncIterator[Api]:
    await upgrade_async(db_url)
    db = Database(db_url)
    settings = NotesSettings(
        database_url=db_url,
        export_dir=tmp_path / "exports",
        timezone="UTC",
        redis_url=redis_url,
        stream_prefix=names.prefix,
        api_host="127.0.0.1",
        api_port=0,
    )
    transport = httpx.ASGITransport(app=create_app(settings, db, redis), client=("10.0.0.9", 1))
    async with httpx.AsyncClient(transport=transport, base_url="http://api.test") as client:
        yield Api(db, client, await add_role_tokens(db))
    await db.dispose()


async def edit(api: Api, encounter_id: str, sections: dict[str, list[str]]) -> dict[str, Any]:
    r = await api.call(
        "PUT",
        f"/v1/encounters/{encounter_id}/note",
        json={"sections": sections},
        headers={"If-Match": '"v1"'},
    )
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def test_high_flags_need_an_audited_acknowledgement(api: Api) -> None:
    enc = await add_encounter(api.db, clinician="dr-a")
    sign = f"/v1/encounters/{enc.encounter_id}/note/sign"
    note = await edit(api, enc.encounter_id, FABRICATED)
    assert note["open_high_flags"] == 1
    flagged = [s for s in note["statements"] if s["flags"]]
    # Nothing said resembles it: no turn to link, checked against the whole transcript.
    assert [(s["id"], s["links"], s["seqs"]) for s in flagged] == [("plan-0", "none", [])]
    assert flagged[0]["flags"][0]["message"] == "drug not said in the transcript"
    assert flagged[0]["flags"][0]["kind"] == "drug"
    assert flagged[0]["flags"][0]["severity"] == "high"
    assert flagged[0]["flags"][0]["id"] == "plan-0:0"
    for body in (None, {"acknowledge_flags": False}):
        refused = await api.call("POST", sign, json=body, headers={"If-Match": '"v2"'})
        assert refused.status_code == 409
        assert refused.json()["detail"] == UNACKNOWLEDGED
    current = await api.call("GET", f"/v1/encounters/{enc.encounter_id}/note")
    assert current.json()["status"] == "draft"  # nothing was signed
    signed = await api.call(
        "POST", sign, json={"acknowledge_flags": True}, headers={"If-Match": '"v2"'}
    )
    assert signed.status_code == 200, signed.text
    assert signed.json()["status"] == "signed"
    assert signed.json()["open_high_flags"] == 1  # acknowledged, not erased
    assert await api.audit(enc.encounter_id) == [
        ("note.sign", None, 409),
        ("note.sign", None, 409),
        ("note.sign", "v2 acknowledged 1 high flags", 200),
    ]


async def test_supported_edit_signs_without_acknowledgement(api: Api) -> None:
    enc = await add_encounter(api.db, clinician="dr-a")
    note = await edit(api, enc.encounter_id, PARAPHRASE)
    assert note["open_high_flags"] == 0
    assert all(not s["flags"] for s in note["statements"])
    by_id = {s["id"]: s for s in note["statements"]}
    assert by_id["subjective-0"]["seqs"] == [1]  # "I have had a dry cough for two weeks."
    assert by_id["objective-0"]["links"] == "none"  # "Not discussed."
    signed = await api.call("POST", f"/v1/encounters/{enc.encounter_id}/note/sign")
    assert signed.status_code == 200, signed.text
    assert await api.audit(enc.encounter_id) == [("note.sign", "v2", 200)]
    versions = await api.call("GET", f"/v1/encounters/{enc.encounter_id}/note/versions")
    v1, v2 = versions.json()["versions"]
    assert (v1["statements"], v1["open_high_flags"]) == ([], 0)  # written before evidence
    assert len(v2["statements"]) == 5


@pytest.mark.parametrize(
    "body", [{"acknowledge_flags": "certainly"}, {"acknowledge_flags": True, "extra": 1}, [1]]
)
async def test_bad_sign_bodies_are_refused_and_sign_nothing(api: Api, body: Any) -> None:
    enc = await add_encounter(api.db, clinician="dr-a")
    r = await api.call("POST", f"/v1/encounters/{enc.encounter_id}/note/sign", json=body)
    assert r.status_code == 422
    note = await api.call("GET", f"/v1/encounters/{enc.encounter_id}/note")
    assert note.json()["status"] == "draft"


async def test_meaning_flags_reach_the_api_and_the_sign_refusal(api: Api) -> None:
    """The visit denied fever; the edit says "reports fever": a high negation flag. Before,
    the API's flag model knew only the term kinds (dose, drug, ...), so the statement was
    left out of the note's statements (logged 'evidence_row_invalid') and out of the 409:
    signing was refused for a flag the clinician could not see."""
    enc = await add_encounter(api.db, clinician="dr-a")
    contradicting = {**PARAPHRASE, "subjective": ["Dry cough x 2 weeks.", "Reports fever."]}
    note = await edit(api, enc.encounter_id, contradicting)
    assert note["open_high_flags"] == 1
    flagged = [s for s in note["statements"] if s["flags"]]
    assert [s["id"] for s in flagged] == ["subjective-1"]
    flag = flagged[0]["flags"][0]
    assert (flag["kind"], flag["severity"]) == ("negation", "high")
    assert flag["message"] == "said: no fever"
    current = await api.call("GET", f"/v1/encounters/{enc.encounter_id}/note")
    assert [s["id"] for s in current.json()["statements"] if s["flags"]] == ["subjective-1"]
    save_and_sign = f"/v1/encounters/{enc.encounter_id}/note/save-and-sign"
    refused = await api.call(
        "POST",
        save_and_sign,
        json={"sections": contradicting, "attest": True},
        headers={"If-Match": '"v2"'},
    )
    assert refused.status_code == 409
    listed = refused.json()["flags"]
    assert [(s["id"], [f["kind"] for f in s["flags"]]) for s in listed] == [
        ("subjective-1", ["negation"])
    ]
