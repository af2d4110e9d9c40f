"""Issue 20 item 10: crafted cursors, oversized notes and look-alike encounter ids."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from services.notes.api.app import create_app
from services.notes.api.queries import encode_cursor
from services.notes.api.schemas import MAX_NOTE_CHARS, MAX_NOTE_STATEMENTS
from services.notes.db.engine import Database
from services.notes.db.models import Note
from services.notes.exporter import export_encounter, safe_dirname
from shared.contracts import StreamNames
from tests.api.seeding import SECTIONS, add_encounter, add_role_tokens, bearer
from tests.kit.api import make_settings, open_database
from tests.kit.api_fixtures import any_db_url  # noqa: F401


async def _versions(db: Database, eid: str) -> int:
    async with db.session() as s:
        query = select(func.count()).select_from(Note).where(Note.encounter_id == eid)
        return int(await s.scalar(query) or 0)


@pytest.mark.parametrize("last_id", ["a\x00b", "x" * 65, "", "a b", "a\nb", "enc-1\n", "é"])
async def test_cursor_with_a_crafted_id_is_422_on_every_database(
    any_db_url: str,  # noqa: F811
    redis_url: str,
    redis: Any,
    names: StreamNames,
    tmp_path: Path,
    last_id: str,
) -> None:
    db = await open_database(any_db_url)
    try:
        tokens = await add_role_tokens(db)
        await add_encounter(db)
        settings = make_settings(any_db_url, redis_url, names, tmp_path / "exports")
        transport = httpx.ASGITransport(app=create_app(settings, db, redis))
        async with httpx.AsyncClient(transport=transport, base_url="http://api.test") as client:
            cursor = encode_cursor(["2026-11-02T09:00:00+00:00", last_id])
            auth = bearer(tokens["staff"])
            r = await client.get(f"/v1/encounters?cursor={cursor}", headers=auth)
            assert r.status_code == 422, r.text
            assert "cursor" in r.text
            r = await client.post("/v1/encounters/search", json={"cursor": cursor}, headers=auth)
            assert r.status_code == 422, r.text
    finally:
        await db.dispose()


@pytest.mark.parametrize(
    "sections",
    [
        {"plan": ["Statement."] * (MAX_NOTE_STATEMENTS + 1)},
        {"plan": ["y" * 3000] * (MAX_NOTE_CHARS // 3000 + 1)},
    ],
    ids=["too-many-statements", "too-many-characters"],
)
async def test_an_oversized_note_edit_is_422_and_changes_nothing(
    client: httpx.AsyncClient, db: Database, tokens: dict[str, str], sections: dict[str, Any]
) -> None:
    enc = await add_encounter(db)
    r = await client.put(
        f"/v1/encounters/{enc.encounter_id}/note",
        json={"sections": sections},
        headers={**bearer(tokens["clin-a"]), "If-Match": '"v1"'},
    )
    assert r.status_code == 422, r.text
    assert "at most" in r.text
    assert await _versions(db, enc.encounter_id) == 1


async def test_a_stale_if_match_is_412_before_any_work(
    client: httpx.AsyncClient, db: Database, tokens: dict[str, str]
) -> None:
    """The version is checked before evidence is computed or anything is written."""
    enc = await add_encounter(db)
    r = await client.put(
        f"/v1/encounters/{enc.encounter_id}/note",
        json={"sections": SECTIONS},
        headers={**bearer(tokens["clin-a"]), "If-Match": '"v7"'},
    )
    assert r.status_code == 412
    assert r.headers["ETag"] == '"v1"'
    assert await _versions(db, enc.encounter_id) == 1


def test_export_folder_names_are_one_per_id() -> None:
    ids = ["a:b", "a_b", "a~3ab", ".x", "_.x", "~2ex", "..", "a.b", "enc-42"]
    names = [safe_dirname(i) for i in ids]
    assert len(set(names)) == len(ids), names
    for name in names:
        assert not name.startswith(".")
        assert "/" not in name
        assert "\x00" not in name
    # Plain ids keep their folder name (existing exports stay where they are).
    assert safe_dirname("enc-42") == "enc-42"
    assert safe_dirname("a_b") == "a_b"


async def test_look_alike_encounters_export_to_their_own_folders(
    db: Database, tmp_path: Path
) -> None:
    await add_encounter(db, "visit:7")
    await add_encounter(db, "visit_7")
    a = await export_encounter(db, tmp_path, "visit:7")
    b = await export_encounter(db, tmp_path, "visit_7")
    assert a.folder != b.folder
    assert a.folder.parent == b.folder.parent == tmp_path
    assert '"id": "visit:7"' in a.json.read_text()
    assert '"id": "visit_7"' in b.json.read_text()
