"""Encounter listing (filters, cursor pagination, free-text search), detail and transcript."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest

from services.notes.db.engine import Database
from tests.api.seeding import BASE_TIME, TURNS, add_encounter, bearer


async def _ids(client: httpx.AsyncClient, token: str, query: str) -> list[str]:
    r = await client.get(f"/v1/encounters?{query}", headers=bearer(token))
    assert r.status_code == 200, r.text
    return [e["id"] for e in r.json()["items"]]


async def test_filters(client: httpx.AsyncClient, db: Database, tokens: dict[str, str]) -> None:
    a = await add_encounter(db, "enc-a", room="room-1", status="ready", started_at=BASE_TIME)
    b = await add_encounter(
        db, "enc-b", room="room-2", status="signed", note="signed", started_at=BASE_TIME
    )
    c = await add_encounter(
        db,
        "enc-c",
        clinician="dr-b",
        room="room-1",
        status="recording",
        note=None,
        started_at=BASE_TIME + timedelta(days=1),
    )
    staff = tokens["staff"]
    assert await _ids(client, staff, "status=signed") == [b.encounter_id]
    assert sorted(await _ids(client, staff, "room=room-1")) == [a.encounter_id, c.encounter_id]
    assert await _ids(client, staff, "clinician=dr-b") == [c.encounter_id]
    after = (BASE_TIME + timedelta(hours=12)).isoformat().replace("+00:00", "Z")
    assert await _ids(client, staff, f"started_after={after}") == [c.encounter_id]
    # A time without a zone is taken as UTC.
    naive = (BASE_TIME + timedelta(hours=12)).replace(tzinfo=None).isoformat()
    assert sorted(await _ids(client, staff, f"started_before={naive}")) == ["enc-a", "enc-b"]
    assert await _ids(client, staff, "status=failed") == []


async def test_cursor_pagination_visits_every_encounter_once(
    client: httpx.AsyncClient, db: Database, tokens: dict[str, str]
) -> None:
    expected = []
    for i in range(7):
        # Two encounters per start time: the cursor must break ties by id.
        seeded = await add_encounter(db, started_at=BASE_TIME + timedelta(minutes=i // 2))
        expected.append(seeded.encounter_id)
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        query = "limit=3" + (f"&cursor={cursor}" if cursor else "")
        r = await client.get(f"/v1/encounters?{query}", headers=bearer(tokens["staff"]))
        assert r.status_code == 200
        page = r.json()
        seen += [e["id"] for e in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == 3
    assert sorted(seen) == sorted(expected)
    assert len(seen) == len(set(seen))
    starts = [(await _detail(client, tokens["staff"], e))["started_at"] for e in seen]
    assert starts == sorted(starts, reverse=True)


async def _detail(client: httpx.AsyncClient, token: str, eid: str) -> dict[str, object]:
    r = await client.get(f"/v1/encounters/{eid}", headers=bearer(token))
    assert r.status_code == 200
    body: dict[str, object] = r.json()
    return body


@pytest.mark.parametrize(
    "cursor", ["not-base64!", "e30", "WyJ4Il0", "bm90IGpzb24", "WzEsMl0", "W251bGwsIngiXQ"]
)
async def test_foreign_cursor_is_422(
    client: httpx.AsyncClient, tokens: dict[str, str], cursor: str
) -> None:
    r = await client.get(f"/v1/encounters?cursor={cursor}", headers=bearer(tokens["staff"]))
    assert r.status_code == 422
    assert "cursor" in r.text


async def test_free_text_search_over_the_current_note(
    client: httpx.AsyncClient, db: Database, tokens: dict[str, str]
) -> None:
    hit = await add_encounter(db, note_text_extra="Refer to Pulmonology for spirometry.")
    await add_encounter(db)
    await add_encounter(db, note=None, status="recording")
    staff = tokens["staff"]
    assert await _ids(client, staff, "q=SPIROMETRY") == [hit.encounter_id]
    assert await _ids(client, staff, "q=pulmonology%20for") == [hit.encounter_id]
    # LIKE wildcards are searched literally.
    assert await _ids(client, staff, "q=%25") == []
    assert await _ids(client, staff, "q=_") == []
    # Only the current version counts: after an edit removes the word, no match.
    edit = {"sections": {"subjective": ["Cough."], "objective": [], "assessment": [], "plan": []}}
    r = await client.put(
        f"/v1/encounters/{hit.encounter_id}/note",
        json=edit,
        headers={**bearer(tokens["clin-a"]), "If-Match": '"v1"'},
    )
    assert r.status_code == 200
    assert await _ids(client, staff, "q=spirometry") == []


async def test_detail_has_status_timings_and_note(
    client: httpx.AsyncClient, db: Database, tokens: dict[str, str]
) -> None:
    enc = await add_encounter(db)
    body = await _detail(client, tokens["staff"], enc.encounter_id)
    assert body["status"] == "ready"
    assert body["stored_turns"] == len(TURNS) == body["expected_turns"]
    assert body["timings"] == {
        "recording_s": 720.0,
        "transcription_lag_s": 3.0,
        "note_lag_s": 6.0,
        "total_s": 729.0,
    }
    note = body["note"]
    assert isinstance(note, dict)
    assert note["version"] == 1
    assert note["status"] == "draft"
    live = await add_encounter(db, status="recording", note=None, turns=1)
    body = await _detail(client, tokens["staff"], live.encounter_id)
    assert body["note"] is None
    assert body["timings"]["recording_s"] is None


async def test_transcript_json_and_text(
    client: httpx.AsyncClient, db: Database, tokens: dict[str, str]
) -> None:
    enc = await add_encounter(db)
    path = f"/v1/encounters/{enc.encounter_id}/transcript"
    r = await client.get(path, headers=bearer(tokens["staff"]))
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/json"
    turns = r.json()["turns"]
    assert [t["text"] for t in turns] == [t[1] for t in TURNS]
    assert turns[0]["speaker_role"] == "clinician"
    assert turns[1]["speaker_role"] == "patient"
    assert turns[1]["flags"] == [{"kind": "symptom", "term": "cough", "assertion": "present"}]
    assert turns[1]["original_text"] == "i have had a dry cough for two weeks"
    assert r.json()["missing_seqs"] == []
    text = await client.get(path, headers={**bearer(tokens["staff"]), "Accept": "text/plain"})
    assert text.status_code == 200
    assert text.headers["content-type"].startswith("text/plain")
    lines = text.text.splitlines()
    assert lines[0] == "Clinical Encounter Transcript"
    assert "[09:00:00] Clinician: What brings you in today?" in lines
    assert "[09:00:04] Patient: I have had a dry cough for two weeks." in lines
    # JSON wins when the client prefers it.
    pref = await client.get(
        path,
        headers={**bearer(tokens["staff"]), "Accept": "text/plain;q=0.5, application/json"},
    )
    assert pref.headers["content-type"] == "application/json"


async def test_transcript_shows_missing_turns(
    client: httpx.AsyncClient, db: Database, tokens: dict[str, str]
) -> None:
    from sqlalchemy import delete

    from services.notes.db.models import Turn

    enc = await add_encounter(db)
    async with db.session() as s:
        await s.execute(delete(Turn).where(Turn.encounter_id == enc.encounter_id, Turn.seq == 2))
    path = f"/v1/encounters/{enc.encounter_id}/transcript"
    r = await client.get(path, headers=bearer(tokens["staff"]))
    assert r.json()["missing_seqs"] == [2]
    text = await client.get(path, headers={**bearer(tokens["staff"]), "Accept": "text/plain"})
    assert "(missing: 1 turn(s) not received: 2)" in text.text
