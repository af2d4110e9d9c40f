"""The release job and the stream housekeeping run as the `notes` user of
deploy/users.acl (what compose deploys): no command they need is refused."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis
from redis.exceptions import NoPermissionError

from services.notes.db.engine import Database
from services.notes.housekeeping import Housekeeping
from services.notes.metrics import NotesMetrics
from services.notes.release import RedisReleaser
from shared.contracts import StreamNames
from shared.streams import ConsumerGroupReader, Delivery, make_redis
from tests.helpers.procs import RedisServer
from tests.kit.notes import notes_settings
from tests.notes.test_notes_release import keys_of, seed_keys, visit

REPO_ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "notes-acl-test"


async def _never(_d: Delivery[Any]) -> None:
    raise AssertionError("not called")


async def skip_before_redis_7(redis: aioredis.Redis) -> None:
    """deploy/users.acl uses %R~/%W~ key selectors: Redis 7 (the compose image)."""
    version = (await redis.info("server"))["redis_version"]
    if int(str(version).split(".")[0]) < 7:
        await redis.aclose()
        pytest.skip(f"deploy/users.acl needs Redis 7, this is {version}")


def notes_acl_rules() -> list[str]:
    acl = (REPO_ROOT / "deploy" / "users.acl").read_text()
    line = next(x for x in acl.splitlines() if x.startswith("user notes "))
    digest = hashlib.sha256(PASSWORD.encode()).hexdigest()
    return line.replace("${MEDSCRIBE_REDIS_PASSWORD_NOTES}", digest).split()[2:]


async def test_notes_acl_allows_release_and_trim(
    db: Database, private_redis: RedisServer, tmp_path: Path
) -> None:
    names = StreamNames("ms:")  # the ACL names the real prefix
    admin = make_redis(private_redis.url)
    await skip_before_redis_7(admin)
    await admin.execute_command("ACL", "SETUSER", "notes", "reset", *notes_acl_rules())
    notes = make_redis(private_redis.url.replace("redis://", f"redis://notes:{PASSWORD}@"))
    try:
        await visit(db, "acl-1", transcribed=True, note=True)
        await seed_keys(admin, names, "acl-1")
        for group in ("bridge", "editor", "notes"):
            await admin.xgroup_create(names.control, group, id="0", mkstream=True)
        await admin.xgroup_create(names.turns, "editor", id="$", mkstream=True)
        await admin.xgroup_create(names.edited, "notes", id="$", mkstream=True)
        for i in range(20):
            await admin.xadd(names.turns, {"i": str(i)})
        await admin.xreadgroup("editor", "c", {names.turns: ">"})
        await admin.xack(names.turns, "editor", *[e for e, _ in await admin.xrange(names.turns)])

        settings = notes_settings(db, names, tmp_path / "exports", redis_release_delay_s=0)
        releaser = RedisReleaser(settings, db, notes, NotesMetrics())
        assert await releaser.release_due() == 1
        await admin.xadd(names.audio("orphan"), {"seq": "0"})
        assert await releaser.sweep_orphans(idle_s=0) == 1  # SCAN + OBJECT IDLETIME allowed
        assert await keys_of(admin, names, "acl-1") == set()
        settings = notes_settings(db, names, tmp_path / "exports", stream_keep_tail=5)
        metrics = NotesMetrics()
        reports = {r.name: r for r in await Housekeeping(settings, notes, metrics).once()}
        assert reports["turns"].trimmed == 15
        assert await admin.xlen(names.turns) == 5
        assert metrics.redis_used_memory._value.get() > 0
        # Dead-lettering is a MULTI/EXEC (copy + ack at once): it must not be refused.
        reader = ConsumerGroupReader(
            notes, stream=names.edited, group="notes", consumer="c", decoder=dict,
            handler=_never, dead_stream=names.dead,
        )  # fmt: skip
        await reader.dead_letter("1-0", {b"v": b"1"}, "poison: test", 1)
        assert await admin.xlen(names.dead) == 1
    finally:
        await notes.aclose()
        await admin.aclose()


async def test_notes_acl_refuses_other_keys(private_redis: RedisServer) -> None:
    """The extra rights are write-only on the bridge's and editor's keys: no reading them."""
    admin: aioredis.Redis = make_redis(private_redis.url)
    await skip_before_redis_7(admin)
    await admin.execute_command("ACL", "SETUSER", "notes", "reset", *notes_acl_rules())
    notes = make_redis(private_redis.url.replace("redis://", f"redis://notes:{PASSWORD}@"))
    try:
        await admin.set("ms:editor:ctx:x", "turn text")
        with pytest.raises(NoPermissionError):
            await notes.get("ms:editor:ctx:x")
        with pytest.raises(NoPermissionError):
            await notes.hgetall("ms:bridge:enc:x")
        assert await notes.delete("ms:editor:ctx:x") == 1
    finally:
        await notes.aclose()
        await admin.aclose()
