"""The patient's after-visit summary (issue 26, point 7), against the real app, database,
and the LLM Gateway simulator over HTTP: written from the signed note only, in plain
language, checked against the signed note (a fabricated instruction is flagged and shown,
not hidden), stored, printable as text, audited, removed by a purge."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import func, select, update

from services.notes.api.app import create_app
from services.notes.db.engine import Database
from services.notes.db.models import AfterVisitSummary, AuditEntry, Encounter
from shared.contracts import StreamNames
from shared.gateway import GatewayClient
from simulators.llm_server import LlmSimConfig, LlmSimulator, start_llm_simulator
from tests.api.seeding import add_encounter, add_role_tokens, bearer
from tests.kit.api import make_settings, open_database

FABRICATED = "Take 40 mg of warfarin daily."


class Clinic:
    def __init__(
        self, db: Database, client: httpx.AsyncClient, tokens: dict[str, str],
        sim: LlmSimulator, app: Any,
    ) -> None:  # fmt: skip
        self.db, self.client, self.tokens, self.sim, self.app = db, client, tokens, sim, app

    async def call(self, method: str, path: str, who: str = "clin-a", **kw: Any) -> httpx.Response:
        headers = {**bearer(self.tokens[who]), **kw.pop("headers", {})}
        return await self.client.request(method, path, headers=headers, **kw)

    async def visit(self, note: str | None = "signed", **kw: Any) -> str:
        status = "signed" if note == "signed" else "ready"
        eid = (await add_encounter(self.db, note=note, status=status, **kw)).encounter_id
        async with self.db.session() as s:
            await s.execute(
                update(Encounter)
                .where(Encounter.id == eid)
                .values(patient_name="Asha Patel", patient_mrn="MRN-4471", visit_reason="Cough")
            )
        return eid

    async def stored(self, eid: str) -> int:
        async with self.db.session() as s:
            n = await s.scalar(select(func.count()).where(AfterVisitSummary.encounter_id == eid))
        return int(n or 0)

    async def audit(self, eid: str, action: str) -> list[tuple[str, int, str | None]]:
        async with self.db.session() as s:
            rows = (
                await s.scalars(
                    select(AuditEntry)
                    .where(AuditEntry.encounter_id == eid, AuditEntry.action == action)
                    .order_by(AuditEntry.id)
                )
            ).all()
        return [(r.actor, r.status, r.target) for r in rows]


@pytest.fixture
async def clinic(
    sqlite_url: str, redis_url: str, names: StreamNames, redis: Any, tmp_path: Path
) -> AsyncIterator[Clinic]:
    db = await open_database(sqlite_url)
    async with await start_llm_simulator(LlmSimConfig(seed=5)) as sim:
        gateway = GatewayClient(
            sim.base_url, SecretStr("sim-key"), timeout=10.0, max_attempts=2,
            backoff_base_s=0.05, deadline_s=20.0,
        )  # fmt: skip
        app = create_app(
            make_settings(sqlite_url, redis_url, names, tmp_path / "exports"),
            db,
            redis,
            gateway=gateway,
        )
        transport = httpx.ASGITransport(app=app, client=("10.0.0.9", 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://api.test") as client:
            yield Clinic(db, client, await add_role_tokens(db), sim, app)
        await gateway.aclose()
    await db.dispose()


async def test_summary_is_plain_checked_stored_printable_and_audited(clinic: Clinic) -> None:
    eid = await clinic.visit()
    path = f"/v1/encounters/{eid}/summary"
    r = await clinic.call("POST", path, json={})
    assert r.status_code == 201, r.text
    got = r.json()
    assert got["note_version"] == 1
    assert got["outdated"] is False
    assert got["check"] == "passed"
    assert got["open_high_flags"] == 0
    assert "Dry cough for two weeks." in got["sections"]["reason"]
    assert "Try albuterol inhaler." in got["sections"]["next_steps"]  # in plain words
    assert got["text"].startswith("Why you came in:\n- ")
    linked = {st["text"]: st["seqs"] for st in got["statements"]}
    assert linked["Try albuterol inhaler."]  # rests on a line of the signed note
    # What the model was sent: the signed note and the reading level, no patient identity.
    sent = clinic.sim.stats.recent[-1]["messages"]
    system, user = sent[0]["content"], sent[-1]["content"]
    assert "reading level" in system
    assert "Trial of albuterol inhaler." in user
    assert "Asha Patel" not in user
    assert "MRN-4471" not in user

    # Stored: the newest one is served, to staff too (the front desk prints it).
    again = await clinic.call("GET", path, who="staff")
    assert again.status_code == 200
    assert again.json()["text"] == got["text"]
    printed = await clinic.call("GET", path, headers={"Accept": "text/plain"})
    assert printed.status_code == 200
    lines = printed.text.splitlines()
    assert lines[0] == "After-visit summary"
    assert "Patient: Asha Patel · MRN MRN-4471" in lines[1]
    assert "Clinician: dr-a" in printed.text
    assert "CHECK FAILED" not in printed.text
    assert "- Try albuterol inhaler." in printed.text

    # An addendum after it: the summary says it is outdated.
    add = await clinic.call(
        "POST", f"/v1/encounters/{eid}/note/addendum", json={"text": "Cough resolved."}
    )
    assert add.status_code == 201
    outdated = await clinic.call("GET", path)
    assert outdated.json()["outdated"] is True
    assert await clinic.audit(eid, "summary.write") == [("clin-a", 201, "from v1, 0 high flags")]
    reads = await clinic.audit(eid, "summary.read")
    assert [(a, s) for a, s, _ in reads] == [("staff", 200), ("clin-a", 200), ("clin-a", 200)]
    assert not any("albuterol" in (t or "") for _, _, t in reads)


async def test_a_fabricated_instruction_is_flagged_and_shown(clinic: Clinic) -> None:
    eid = await clinic.visit()
    clinic.sim.config.summary_fabricate = True
    r = await clinic.call("POST", f"/v1/encounters/{eid}/summary")
    assert r.status_code == 201, r.text
    got = r.json()
    assert got["check"] == "flagged"
    assert got["open_high_flags"] >= 1
    invented = [st for st in got["statements"] if st["text"] == FABRICATED]
    assert len(invented) == 1
    assert invented[0]["section"] == "next_steps"
    high = {f["term"].lower() for f in invented[0]["flags"] if f["severity"] == "high"}
    assert "warfarin" in high
    # Nothing else is flagged: the rest is what the signed note says.
    others = [st for st in got["statements"] if st["text"] != FABRICATED and st["flags"]]
    assert not [f for st in others for f in st["flags"] if f["severity"] == "high"]
    # Stored and shown, with the failed check on top of the printable text.
    printed = await clinic.call(
        "GET", f"/v1/encounters/{eid}/summary", headers={"Accept": "text/plain"}
    )
    assert "CHECK FAILED: " in printed.text
    assert FABRICATED in printed.text
    flagged = got["open_high_flags"]
    assert await clinic.audit(eid, "summary.write") == [
        ("clin-a", 201, f"from v1, {flagged} high flags")
    ]


async def test_refusals_store_nothing_and_a_purge_removes_summaries(clinic: Clinic) -> None:
    unsigned = await clinic.visit(note="draft")
    r = await clinic.call("POST", f"/v1/encounters/{unsigned}/summary")
    assert r.status_code == 409
    assert "signed" in r.json()["detail"]
    no_note = await clinic.visit(note=None)
    assert (await clinic.call("POST", f"/v1/encounters/{no_note}/summary")).status_code == 409
    eid = await clinic.visit()
    path = f"/v1/encounters/{eid}/summary"
    assert (await clinic.call("GET", path)).status_code == 404  # none yet
    assert (await clinic.call("POST", path, who="clin-b")).json() == {"detail": "no such encounter"}
    for who in ("staff", "auditor"):
        assert (await clinic.call("POST", path, who=who)).status_code == 403
    assert (await clinic.call("GET", path, who="auditor")).status_code == 403
    for bad in ({"model": "no-such-model"}, {"model": "x" * 101}, {"tone": "friendly"}):
        assert (await clinic.call("POST", path, json=bad)).status_code == 422
    # The gateway down: a clear 503, nothing stored.
    clinic.sim.config.down = True
    down = await clinic.call("POST", path)
    assert down.status_code == 503
    assert "try again" in down.json()["detail"]
    clinic.sim.config.down = False
    # A reply that is not the three sections (twice): 502, nothing stored.
    ctx = clinic.app.state.ctx
    real = ctx.gateway

    class Rambling:
        async def chat(self, *_: Any, **__: Any) -> Any:
            return type("Reply", (), {"text": "Here is a friendly summary for you."})()

    ctx.gateway = Rambling()
    assert (await clinic.call("POST", path)).status_code == 502
    ctx.gateway = None  # a server without the gateway does not offer summaries
    assert (await clinic.call("POST", path)).status_code == 503
    ctx.gateway = real
    assert await clinic.stored(eid) == 0
    assert await clinic.stored(unsigned) == 0

    # Written, then purged with the encounter's other content.
    assert (await clinic.call("POST", path)).status_code == 201
    assert (await clinic.call("POST", path, who="admin")).status_code == 201
    assert await clinic.stored(eid) == 2
    purge = await clinic.call(
        "POST", f"/v1/encounters/{eid}/purge", who="admin", json={"confirm_signed": True}
    )
    assert purge.status_code == 200, purge.text
    assert await clinic.stored(eid) == 0
    statuses = [s for _, s, _ in await clinic.audit(eid, "summary.write")]
    assert statuses == [404, 403, 403, 422, 503, 502, 503, 201, 201]  # bad bodies: before it
