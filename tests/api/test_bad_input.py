"""Bad input: 422 with a clear message (and no echo of what was sent), 413, 404, 405.

Never a 500 for anything a client sends; the database is unchanged after each refusal.
"""

from __future__ import annotations

import json

import httpx
import pytest
from sqlalchemy import func, select

from services.notes.db.engine import Database
from services.notes.db.models import Note
from tests.api.seeding import add_encounter, bearer

CANARY = "Zanzibar-canary-7731"


async def _note_versions(db: Database, eid: str) -> int:
    async with db.session() as s:
        query = select(func.count()).select_from(Note).where(Note.encounter_id == eid)
        return int(await s.scalar(query) or 0)


@pytest.mark.parametrize(
    ("body", "where"),
    [
        ({}, ["body", "sections"]),
        ({"sections": {"subjective": "not a list"}}, ["body", "sections", "subjective"]),
        ({"sections": {"plan": [""]}}, ["body", "sections", "plan", 0]),
        ({"sections": {"plan": [f"{CANARY}\x00"]}}, ["body", "sections", "plan", 0]),
        ({"sections": {"plan": ["ok"]}, "extra": CANARY}, ["body", "extra"]),
        ({"sections": {"plan": ["ok"], "history": [CANARY]}}, ["body", "sections", "history"]),
        ({"sections": {"plan": ["x" * 4001]}}, ["body", "sections", "plan", 0]),
        ({"sections": {"plan": [], "subjective": []}}, ["body", "sections"]),
    ],
)
async def test_invalid_note_edit_is_422_without_echo(
    client: httpx.AsyncClient,
    db: Database,
    tokens: dict[str, str],
    body: dict[str, object],
    where: list[object],
) -> None:
    enc = await add_encounter(db)
    r = await client.put(
        f"/v1/encounters/{enc.encounter_id}/note",
        json=body,
        headers={**bearer(tokens["clin-a"]), "If-Match": '"v1"'},
    )
    assert r.status_code == 422, r.text
    errors = r.json()["detail"]
    assert errors[0]["loc"] == where
    assert errors[0]["msg"]
    assert set(errors[0]) == {"loc", "msg", "type"}
    assert CANARY not in r.text  # the error names the problem, not the content
    assert await _note_versions(db, enc.encounter_id) == 1


@pytest.mark.parametrize(
    "raw",
    [b"{not json", b'{"sections": ', b"\xff\xfe\x00", b"[]", b"null", b'"text"'],
)
async def test_malformed_json_is_422(
    client: httpx.AsyncClient, db: Database, tokens: dict[str, str], raw: bytes
) -> None:
    enc = await add_encounter(db)
    r = await client.put(
        f"/v1/encounters/{enc.encounter_id}/note",
        content=raw,
        headers={
            **bearer(tokens["clin-a"]),
            "If-Match": '"v1"',
            "Content-Type": "application/json",
        },
    )
    assert r.status_code == 422, r.text


async def test_lone_surrogate_in_json_is_422(
    client: httpx.AsyncClient, db: Database, tokens: dict[str, str]
) -> None:
    enc = await add_encounter(db)
    raw = b'{"sections": {"plan": ["bad \\ud800 text"]}}'
    r = await client.put(
        f"/v1/encounters/{enc.encounter_id}/note",
        content=raw,
        headers={
            **bearer(tokens["clin-a"]),
            "If-Match": '"v1"',
            "Content-Type": "application/json",
        },
    )
    assert r.status_code == 422, r.text


async def test_oversized_body_is_413(
    client: httpx.AsyncClient, db: Database, tokens: dict[str, str]
) -> None:
    enc = await add_encounter(db)
    big = {"sections": {"plan": ["word " * 700] * 200, "subjective": ["x " * 1900] * 200}}
    raw = json.dumps(big).encode()
    assert len(raw) > 1024 * 1024
    r = await client.put(
        f"/v1/encounters/{enc.encounter_id}/note",
        content=raw,
        headers={
            **bearer(tokens["clin-a"]),
            "If-Match": '"v1"',
            "Content-Type": "application/json",
        },
    )
    assert r.status_code == 413
    assert await _note_versions(db, enc.encounter_id) == 1


@pytest.mark.parametrize(
    "query",
    [
        "status=bogus",
        "limit=0",
        "limit=100000",
        "limit=abc",
        "started_after=yesterday",
        "started_after=0001-01-01T00:00:00%2B01:00",
        "room=a%00b",
        "q=",
        "q=" + "x" * 201,
        "q=tab%09inside",
        "clinician=" + "d" * 101,
    ],
)
async def test_bad_list_query_is_422(
    client: httpx.AsyncClient, tokens: dict[str, str], query: str
) -> None:
    r = await client.get(f"/v1/encounters?{query}", headers=bearer(tokens["staff"]))
    assert r.status_code == 422, r.text
    assert r.json()["detail"][0]["msg"]


@pytest.mark.parametrize(
    "path",
    [
        "/v1/encounters/has%20space",
        "/v1/encounters/" + "x" * 65,
        "/v1/encounters/semi;colon/note",
        "/v1/encounters/%00/transcript",
        "/v1/encounters/%C3%A9t%C3%A9/note/versions",
    ],
)
async def test_bad_encounter_ids_are_422(
    client: httpx.AsyncClient, tokens: dict[str, str], path: str
) -> None:
    r = await client.get(path, headers=bearer(tokens["staff"]))
    assert r.status_code == 422, r.text


async def test_bad_token_requests(client: httpx.AsyncClient, tokens: dict[str, str]) -> None:
    admin = bearer(tokens["admin"])
    for body in (
        {"name": "x", "role": "superuser"},
        {"name": "has space", "role": "staff"},
        {"name": "", "role": "staff"},
        {"name": "n", "role": "clinician", "clinician_id": "bad id!"},
        {"name": "n", "role": "staff", "clinician_id": None, "extra": 1},
    ):
        r = await client.post("/v1/tokens", json=body, headers=admin)
        assert r.status_code == 422, (body, r.text)
    for body, detail in (
        ({"name": "c1", "role": "clinician"}, "a clinician token needs clinician_id"),
        ({"name": "s1", "role": "staff", "clinician_id": "dr-a"}, "only clinician"),
        ({"name": "staff", "role": "staff"}, "a token with this name exists"),
    ):
        r = await client.post("/v1/tokens", json=body, headers=admin)
        assert r.status_code == 409
        assert detail in r.json()["detail"]
    for token_id in ("0", "-1", "abc", str(2**70)):
        r = await client.delete(f"/v1/tokens/{token_id}", headers=admin)
        assert r.status_code == 422, token_id
    assert (await client.delete("/v1/tokens/9999", headers=admin)).status_code == 404


async def test_audit_log_cannot_be_changed(
    client: httpx.AsyncClient, tokens: dict[str, str]
) -> None:
    admin = bearer(tokens["admin"])
    for method in ("POST", "PUT", "PATCH", "DELETE"):
        r = await client.request(method, "/v1/audit", headers=admin, json={"actor": "x"})
        assert r.status_code == 405, method
    r = await client.delete("/v1/audit/1", headers=admin)
    assert r.status_code == 404


async def test_unknown_route_is_404_json(client: httpx.AsyncClient) -> None:
    r = await client.get("/v2/nothing")
    assert r.status_code == 404
    assert r.json() == {"detail": "Not Found"}
