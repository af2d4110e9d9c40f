"""kill -9 of the bridge and the editor mid-visit, every service as its own production Redis
user (deploy/users.acl) and the rate limit on: recovery paths (reclaims, lease takeover,
dead-letter checks) must not need a command the ACLs refuse."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis as sync_redis

from shared.acibench import Dialogue
from shared.contracts import EditedTurn, StreamNames, decode
from tests.chaos.harness import ChaosStack, pick_dialogues
from tests.chaos.report import Row
from tests.helpers.acl import PROD_PREFIX, AclRedis

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

TURNS = 10  # 2 x 10 turns, and their retries after the kills, stay under RPM 30


async def test_kills_under_production_acls(
    tmp_path: Path, acl_redis: AclRedis, aci_dialogues: list[Dialogue], row: Row
) -> None:
    names = StreamNames(PROD_PREFIX)
    db = f"sqlite+aiosqlite:///{tmp_path / 'notes.db'}"
    users = {u: acl_redis.url(u) for u in ("bridge", "editor", "notes", "capture")}
    s = ChaosStack(
        tmp_path, acl_redis.admin_url, names, db, bridges=2, editors=2,
        extra_env={"MEDSCRIBE_RPM_PER_MODEL": "30"}, redis_users=users,
    )  # fmt: skip
    async with s:
        visits = [s.visit(d, f"room-{i}") for i, d in
                  enumerate(pick_dialogues(aci_dialogues, 2, TURNS))]  # fmt: skip
        for v in visits:
            await s.play(v)
        await s.encounter_ids()
        await s.wait_turns(4)
        s.kill("bridge-1")
        await s.wait_turns(9)
        s.kill("editor-1")
        for v in visits:
            assert await s.finish(v) == 0
        outcomes = await s.wait_outcomes()
        await s.settle_probes()
        await s.check(row, outcomes)
        assert not s.unexpected_exits(), s.unexpected_exits()
    admin = sync_redis.Redis.from_url(acl_redis.admin_url)
    try:
        assert admin.xlen(names.dead) == 0
        edited = [decode(f, EditedTurn) for _, f in admin.xrange(names.edited)]
        assert len(edited) == 2 * TURNS
        assert [t.edit_reason for t in edited if t.edit_status == "fallback"] == []
        refused = [
            (e["username"], e["object"], e["reason"]) for e in admin.acl_log()
            if not (e["username"] == "capture"
                    and (e["object"], e["reason"]) in ((names.edited, "key"), ("xread", "command")))
        ]  # fmt: skip
        assert refused == []
    finally:
        admin.close()
    s.assert_no_phi_in_logs()
