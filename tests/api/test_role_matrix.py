"""Every endpoint × every role × own/other encounter, against the real app and database.

The expected outcome is written out here by hand (not derived from services.notes.auth),
so a change of the rules in the code shows up as a failing row. Each case also checks
that a refusal carries no data and that patient-data requests left an audit row.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from services.notes.db.engine import Database
from services.notes.db.models import AuditEntry
from tests.api.seeding import SECTIONS, add_encounter, add_token, bearer, new_id, token_id


@dataclass(frozen=True)
class Endpoint:
    name: str
    method: str
    path: str  # {id} = the encounter, {token} = a victim token id
    ok: int = 200
    action: str | None = None  # audit action (None: no patient data)
    note: str = "draft"  # note state the encounter needs
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


E = "/v1/encounters/{id}"
ENDPOINTS = [
    Endpoint("list", "GET", "/v1/encounters?clinician={clinician}", action="encounter.list"),
    Endpoint("get", "GET", E, action="encounter.read"),
    Endpoint("transcript", "GET", E + "/transcript", action="transcript.read"),
    Endpoint(
        "transcript_text",
        "GET",
        E + "/transcript",
        action="transcript.read",
        headers={"Accept": "text/plain"},
    ),
    Endpoint("note", "GET", E + "/note", action="note.read"),
    Endpoint("versions", "GET", E + "/note/versions", action="note.history"),
    Endpoint(
        "edit",
        "PUT",
        E + "/note",
        action="note.update",
        body={"sections": SECTIONS},
        headers={"If-Match": '"v1"'},
    ),
    Endpoint("sign", "POST", E + "/note/sign", action="note.sign"),
    Endpoint(
        "save_sign",
        "POST",
        E + "/note/save-and-sign",
        action="note.sign",
        body={"sections": SECTIONS, "attest": True},
        headers={"If-Match": '"v1"'},
    ),
    Endpoint(
        "addendum",
        "POST",
        E + "/note/addendum",
        201,
        "note.addendum",
        note="signed",
        body={"text": "Called back: better."},
    ),
    Endpoint(
        "draft_put",
        "PUT",
        E + "/note/draft",
        action="note.draft",
        body={"sections": SECTIONS, "base_version": 1},
    ),
    Endpoint("draft_delete", "DELETE", E + "/note/draft", 204, "note.draft"),
    Endpoint("speakers_swap", "POST", E + "/speakers/swap", action="speakers.edit"),
    Endpoint(
        "turn_role",
        "PUT",
        E + "/turns/0/role",
        action="speakers.edit",
        body={"role": "patient"},
    ),
    Endpoint("regenerate", "POST", E + "/note/regenerate", 202, "note.regenerate", body={}),
    Endpoint("fhir", "GET", E + "/fhir", action="export.fhir", note="signed"),
    Endpoint("events", "GET", E + "/events", action="live.follow"),
    Endpoint("events_ticket", "POST", E + "/events/ticket", 201, "live.follow"),
    Endpoint("audit", "GET", "/v1/audit?encounter_id={id}", action="audit.read"),
    Endpoint("tokens_list", "GET", "/v1/tokens"),
    Endpoint(
        "tokens_create",
        "POST",
        "/v1/tokens",
        201,
        body={"name": "{new}", "role": "staff"},
    ),
    Endpoint("tokens_revoke", "DELETE", "/v1/tokens/{token}"),
    Endpoint("tokens_signin_link", "POST", "/v1/tokens/{token}/signin-link", 201),
    # Exam rooms' own Redis credentials (issue 19): admins only. This app has no Redis admin
    # URL, so an admin gets past the role check to the 503 that says so (with one:
    # tests/rooms/test_room_admin_api.py).
    Endpoint("rooms_list", "GET", "/v1/admin/rooms", 503),
    Endpoint("rooms_add", "POST", "/v1/admin/rooms", 503, body={"name": "exam-9"}),
    Endpoint("rooms_revoke", "DELETE", "/v1/admin/rooms/exam-9", 503),
    Endpoint("healthz", "GET", "/healthz"),
    Endpoint("readyz", "GET", "/readyz"),
    Endpoint("metrics", "GET", "/metrics"),
]

READS = {
    "list",
    "get",
    "transcript",
    "transcript_text",
    "note",
    "versions",
    "fhir",
    "events",
    "events_ticket",
}
WRITES = {
    "edit",
    "sign",
    "save_sign",
    "regenerate",
    "addendum",
    "draft_put",
    "draft_delete",
    "speakers_swap",
    "turn_role",
}
AUDIT = {"audit"}
TOKENS = {"tokens_list", "tokens_create", "tokens_revoke", "tokens_signin_link"}
ROOMS = {"rooms_list", "rooms_add", "rooms_revoke"}
PUBLIC = {"healthz", "readyz", "metrics"}

# role -> scope -> endpoints that succeed; everything else must be 403.
ALLOWED: dict[str, dict[str, set[str]]] = {
    # Separation of duties (issue 20): an admin never edits or signs a clinician's note.
    "admin": dict.fromkeys(
        ("own", "other"), READS | {"regenerate"} | AUDIT | TOKENS | ROOMS | PUBLIC
    ),
    "staff": dict.fromkeys(("own", "other"), READS | PUBLIC),
    "auditor": dict.fromkeys(("own", "other"), AUDIT | PUBLIC),
    "clin-a": {"own": READS | WRITES | PUBLIC, "other": PUBLIC},
}
CASES = [
    pytest.param(ep, role, scope, id=f"{ep.name}-{role}-{scope}")
    for ep in ENDPOINTS
    for role in ALLOWED
    for scope in ("own", "other")
]


def refusal(ep: Endpoint, role: str, scope: str) -> int:
    """403 for what the role may never do; 404 for another clinician's encounter (issue 20)."""
    per_encounter = ep.path.startswith(E) and (ep.name in READS or ep.name in WRITES)
    return 404 if role == "clin-a" and scope == "other" and per_encounter else 403


def _fill(value: Any, subs: dict[str, str]) -> Any:
    if isinstance(value, str):
        return value.format(**subs) if "{" in value and "}" in value else value
    if isinstance(value, dict):
        return {k: _fill(v, subs) for k, v in value.items()}
    return value


async def _audit_rows(db: Database, actor: str, action: str) -> list[AuditEntry]:
    async with db.session() as s:
        query = select(AuditEntry).where(AuditEntry.actor == actor, AuditEntry.action == action)
        return list((await s.scalars(query)).all())


@pytest.mark.parametrize(("ep", "role", "scope"), CASES)
async def test_role_matrix(
    ep: Endpoint,
    role: str,
    scope: str,
    client: httpx.AsyncClient,
    db: Database,
    tokens: dict[str, str],
) -> None:
    own = await add_encounter(db, clinician="dr-a", note=ep.note)
    other = await add_encounter(db, clinician="dr-b", note=ep.note)
    target = own if scope == "own" else other
    victim = new_id("victim")
    await add_token(db, victim, "staff")
    subs = {
        "id": target.encounter_id,
        "clinician": target.clinician or "",
        "token": str(await token_id(db, victim)),
        "new": new_id("tok"),
    }
    response = await client.request(
        ep.method,
        _fill(ep.path, subs),
        json=_fill(ep.body, subs) if ep.body is not None else None,
        headers={**bearer(tokens[role]), **ep.headers},
    )
    expected = ep.ok if ep.name in ALLOWED[role][scope] else refusal(ep, role, scope)
    assert response.status_code == expected, response.text
    if expected == 403:
        # No data in a refusal: a fixed sentence, nothing about the encounter.
        assert response.json() == {"detail": "this token may not do that"}
    if expected == 404:
        # Another clinician's encounter answers exactly like an unknown id.
        assert response.json() == {"detail": "no such encounter"}
    if ep.action is not None:
        rows = await _audit_rows(db, role, ep.action)
        assert [(r.status, r.source_ip) for r in rows] == [(expected, "10.1.2.3")]
        if ep.name not in {"list"}:
            assert rows[0].encounter_id == target.encounter_id


PROTECTED = [ep for ep in ENDPOINTS if ep.name not in PUBLIC]


@pytest.mark.parametrize("ep", PROTECTED, ids=[ep.name for ep in PROTECTED])
@pytest.mark.parametrize(
    "auth", ["none", "malformed", "unknown", "revoked", "basic", "unknown_role"]
)
async def test_unauthenticated_is_401(
    ep: Endpoint, auth: str, client: httpx.AsyncClient, db: Database
) -> None:
    seeded = await add_encounter(db, note=ep.note)
    revoked = await add_token(db, "old", "admin", revoked=True)
    odd = await add_token(db, "odd", "superuser")  # a row edited by hand
    headers = {
        "none": {},
        "malformed": {"Authorization": "Bearer not-a-token"},
        "unknown": bearer("ms_" + "A" * 43),
        "revoked": bearer(revoked),
        "basic": {"Authorization": "Basic YWRtaW46YWRtaW4="},
        "unknown_role": bearer(odd),
    }[auth]
    subs = {"id": seeded.encounter_id, "clinician": "dr-a", "token": "1", "new": "x"}
    response = await client.request(
        ep.method,
        _fill(ep.path, subs),
        json=_fill(ep.body, subs) if ep.body is not None else None,
        headers={**headers, **ep.headers},
    )
    assert response.status_code == 401
    assert response.json() == {"detail": "missing or invalid API token"}
    assert response.headers["www-authenticate"] == "Bearer"


async def test_clinician_list_shows_only_own(
    client: httpx.AsyncClient, db: Database, tokens: dict[str, str]
) -> None:
    mine = {(await add_encounter(db, clinician="dr-a")).encounter_id for _ in range(3)}
    for _ in range(2):
        await add_encounter(db, clinician="dr-b")
    await add_encounter(db, clinician=None)
    response = await client.get("/v1/encounters", headers=bearer(tokens["clin-a"]))
    assert response.status_code == 200
    assert {e["id"] for e in response.json()["items"]} == mine
    staff = await client.get("/v1/encounters", headers=bearer(tokens["staff"]))
    assert len(staff.json()["items"]) == 6
