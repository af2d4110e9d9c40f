"""Bad input while a visit runs: hypothesis writes random and malformed entries into every
stream (control, turns, edited turns, the live visit's audio and partials, the dead-letter
stream itself), wrong schema versions and huge entries; then malformed API requests. Each
bad entry on a consumer-group stream must land in the dead-letter stream for every group,
no service may crash, and the visit must still come out word for word."""

from __future__ import annotations

import asyncio
import json
import os
import string
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis as sync_redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from medscribe.supervisor.supervisor import ServiceSpec, medscribe_argv
from shared.acibench import Dialogue
from shared.contracts import (
    SCHEMA_VERSION,
    EditedTurn,
    EncounterStarted,
    EncounterStopped,
    FinalTurn,
    MalformedEntry,
    StreamNames,
    decode_audio,
    encode,
)
from shared.redis_urls import cluster_seed_url, is_cluster_url
from tests.chaos.harness import ChaosStack, pick_dialogues
from tests.chaos.report import Row

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

TURNS = 12
EXAMPLES = 60
DEAD_WAIT_S = 5.0
HUGE = 4 * 1024 * 1024

_started = EncounterStarted(encounter_id="x-1", room="r", llm_model="m")
_turn = FinalTurn(encounter_id="x-1", seq=0, stt_session_id="s", turn_order=0, text="t",
                  start_ms=0, end_ms=1)  # fmt: skip
_edited = EditedTurn(**_turn.model_dump(), edited_text="t", edit_status="edited", llm_model="m")
VALID = {
    "control": [encode(_started), encode(EncounterStopped(encounter_id="x-1", last_frame_seq=3))],
    "turns": [encode(_turn)],
    "edited": [encode(_edited)],
}

json_junk = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=8), c, max_size=4),
    max_leaves=12,
).map(json.dumps)
not_an_int = st.text(alphabet=string.ascii_letters + "-. ", min_size=1, max_size=8)


def wrong_version(kind: str) -> st.SearchStrategy[dict[str, str]]:
    """A valid message of the stream under a schema version nobody speaks."""
    version = st.integers(-(2**31), 2**31).filter(lambda v: v != SCHEMA_VERSION).map(str)
    return st.builds(
        lambda valid, v: {**valid, "v": v}, st.sampled_from(VALID[kind]), version | not_an_int
    )


def broken_message(kind: str) -> st.SearchStrategy[dict[str, str]]:
    """The right schema version, but data that is not this stream's message."""

    def mangle(valid: dict[str, str], drop: str, junk: str) -> dict[str, str]:
        data = json.loads(valid["data"])
        data.pop(drop, None)
        data["seq" if "seq" in data else "encounter_id"] = junk
        return {**valid, "data": json.dumps(data)}

    keys = st.sampled_from(["encounter_id", "llm_model", "text", "edit_status", "room"])
    return st.one_of(
        st.builds(lambda d: {"v": str(SCHEMA_VERSION), "data": d}, json_junk | st.text()),
        st.builds(mangle, st.sampled_from(VALID[kind]), keys, st.text(max_size=5).map(str)),
    )


random_fields = st.dictionaries(
    st.binary(min_size=1, max_size=8), st.binary(max_size=64), min_size=1, max_size=4
)


def _is_valid_audio(fields: dict[Any, Any]) -> bool:
    try:
        decode_audio(fields)
    except MalformedEntry:
        return False
    return True


bad_audio = st.one_of(
    random_fields,
    st.fixed_dictionaries({"seq": not_an_int, "pcm": st.binary(max_size=64)}),
    st.fixed_dictionaries({"seq": st.integers(max_value=-1).map(str), "pcm": st.binary()}),
    st.fixed_dictionaries({"seq": st.integers(0, 10**6).map(str),
                           "pcm": st.binary(min_size=1, max_size=63).filter(lambda b: len(b) % 2)}),
    st.fixed_dictionaries({"pcm": st.binary(max_size=64)}),
).filter(lambda f: not _is_valid_audio(f))  # fmt: skip


def entries() -> st.SearchStrategy[tuple[str, dict[Any, Any]]]:
    grouped = st.sampled_from(["control", "turns", "edited"]).flatmap(
        lambda k: st.tuples(
            st.just(k), st.one_of(random_fields, wrong_version(k), broken_message(k))
        )
    )
    return st.one_of(
        grouped,
        st.tuples(st.just("audio"), bad_audio),
        st.tuples(st.just("partials"), random_fields | broken_message("turns")),
        st.tuples(st.just("dead"), random_fields),
    )


# Groups that own each stream's messages and so dead-letter what does not parse. The
# editor also reads control (for EncounterStarted) but leaves bad entries to these owners.
OWNERS = {"control": {"bridge", "notes"}, "turns": {"editor"}, "edited": {"notes"}}


def sync_client(url: str) -> Any:
    """A blocking client for the injector: a cluster client for a redis+cluster:// URL
    (tests/cluster runs this scenario on Redis Cluster too)."""
    if is_cluster_url(url):
        return sync_redis.RedisCluster.from_url(cluster_seed_url(url))
    return sync_redis.Redis.from_url(url)


def pending(redis_url: str, names: StreamNames) -> dict[str, int]:
    """Unacknowledged entries per stream/group: bad ones must not stay pending anywhere."""
    client = sync_client(redis_url)
    try:
        out = {}
        for stream in (names.control, names.turns, names.edited):
            for g in client.xinfo_groups(stream):
                out[f"{stream}/{g['name'].decode()}"] = int(g["pending"])
        return out
    finally:
        client.close()


class DeadIndex:
    """Which (stream, group, entry id) the dead-letter stream holds, read incrementally."""

    def __init__(self, client: sync_redis.Redis, dead: str) -> None:
        self.client, self.dead, self.last = client, dead, "0-0"
        self.seen: set[tuple[str, str, str]] = set()  # (stream, group, entry id)

    def refresh(self) -> None:
        rows: Any = self.client.xread({self.dead: self.last}, count=1000)
        for _s, items in rows or []:
            for rid, f in items:
                self.last = rid.decode()
                stream, group, entry = (
                    f.get(k, b"").decode(errors="replace")
                    for k in (b"dead:stream", b"dead:group", b"dead:entry_id")
                )
                self.seen.add((stream, group, entry))

    def wait(self, want: set[tuple[str, str, str]], timeout: float = DEAD_WAIT_S) -> set[Any]:
        deadline = time.monotonic() + timeout
        while True:
            self.refresh()
            missing = want - self.seen
            if not missing or time.monotonic() > deadline:
                return missing
            time.sleep(0.02)


def inject(redis_url: str, names: StreamNames, live_eid: str, counts: dict[str, int]) -> None:
    """Write hypothesis' entries; each bad entry on a grouped stream must be dead-lettered."""
    client = sync_client(redis_url)
    index = DeadIndex(client, names.dead)
    stream_of = {
        "control": names.control, "turns": names.turns, "edited": names.edited,
        "audio": names.audio(live_eid), "partials": names.partials(live_eid), "dead": names.dead,
    }  # fmt: skip
    present = {
        kind: {g["name"].decode() for g in client.xinfo_groups(stream_of[kind])} for kind in OWNERS
    }
    groups = {kind: OWNERS[kind] & present[kind] for kind in OWNERS}
    assert groups == OWNERS, present  # every owner has its group by now

    @settings(max_examples=EXAMPLES, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))  # fmt: skip
    @given(entry=entries())
    def one(entry: tuple[str, dict[Any, Any]]) -> None:
        kind, fields = entry
        stream = stream_of[kind]
        eid = client.xadd(stream, fields).decode()  # type: ignore[union-attr]
        counts[kind] = counts.get(kind, 0) + 1
        if kind in groups:
            missing = index.wait({(stream, g, eid) for g in groups[kind]})
            if missing and os.environ.get("CHAOS_DEBUG"):
                print("MISSING", kind, repr(fields)[:300], missing)
            assert not missing, f"not dead-lettered: {sorted(missing)}"

    try:
        one()
        # Huge entries: a 4 MiB field on each grouped stream.
        for kind in OWNERS:
            eid = client.xadd(stream_of[kind], {"v": "1", "data": b"{" * HUGE}).decode()  # type: ignore[union-attr]
            counts[kind] += 1
            missing = index.wait({(stream_of[kind], g, eid) for g in groups[kind]})
            assert not missing, f"huge entry not dead-lettered: {sorted(missing)}"
    finally:
        client.close()


BAD_REQUESTS: list[tuple[str, str, dict[str, Any]]] = [
    ("GET", "/v1/encounters", {}),  # no token
    ("GET", "/v1/encounters", {"headers": {"Authorization": "Bearer " + "x" * 5000}}),
    ("GET", "/v1/encounters", {"headers": {"Authorization": "Basic Zm9vOmJhcg=="}}),
    ("GET", "/v1/encounters?limit=-5", {}),
    ("GET", "/v1/encounters?limit=abc&cursor=%00%ff", {}),
    ("GET", "/v1/encounters/..%2F..%2Fetc%2Fpasswd", {}),
    ("GET", "/v1/encounters/" + "a" * 5000, {}),
    ("GET", "/v1/encounters/nope/transcript", {}),
    ("PUT", "/v1/encounters/nope/note", {"content": b"{not json"}),
    ("PUT", "/v1/encounters/nope/note", {"json": {"sections": "plan"}}),
    ("PUT", "/v1/encounters/nope/note", {"json": [1, 2, 3]}),
    ("POST", "/v1/encounters/nope/note/regenerate", {"content": b"\xff\xfe" * 100}),
    ("POST", "/v1/encounters/nope/note/regenerate", {"json": {"model": "m" * 1000}}),
    ("POST", "/v1/encounters/nope/note/sign", {"headers": {"If-Match": '"' + "z" * 300}}),
    ("POST", "/v1/encounters/nope/note/regenerate", {"content": b"{" * (2 * 1024 * 1024)}),
    ("DELETE", "/v1/encounters", {}),
    ("GET", "/v1/%ZZ", {}),
]


async def malformed_api_requests(s: ChaosStack) -> None:
    """Every malformed request gets a 4xx with a JSON body, none a 5xx or a dropped socket."""
    async with httpx.AsyncClient(base_url=s.api, timeout=30) as client:
        for i, (method, path, kw) in enumerate(BAD_REQUESTS):
            kw = dict(kw)
            headers = kw.pop("headers", None)
            if headers is None and i > 0:
                headers = s.auth()
            r = await client.request(method, path, headers=headers, **kw)
            assert 400 <= r.status_code < 500, (method, path[:60], r.status_code)


async def test_bad_input(
    tmp_path: Path, redis_url: str, names: StreamNames, aci_dialogues: list[Dialogue], row: Row
) -> None:
    db = f"sqlite+aiosqlite:///{tmp_path / 'notes.db'}"
    s = ChaosStack(tmp_path, redis_url, names, db)
    async with s:
        (d,) = pick_dialogues(aci_dialogues, 1, TURNS, offset=2)
        v = s.visit(d, "room-0")
        await s.play(v, speed=s.scale / 2)  # a longer visit: the junk arrives while it runs
        await s.encounter_ids()
        assert v.encounter_id is not None
        counts: dict[str, int] = {}
        t0 = time.monotonic()
        await asyncio.to_thread(inject, redis_url, names, v.encounter_id, counts)
        row.recovery_s.append(await s.growth_after(names.edited) or 0.0)
        await malformed_api_requests(s)
        assert await s.finish(v) == 0
        outcomes = await s.wait_outcomes()
        await s.check(row, outcomes)
        assert all(svc.running for svc in s.sup.services), "a service died"
        stuck = {k: n for k, n in pending(redis_url, names).items() if n}
        assert not stuck, f"entries left pending: {stuck}"
        assert not s.exits, [(e.name, e.code) for e in s.exits]  # nothing crashed or restarted
        assert set(counts) == {"control", "turns", "edited", "audio", "partials", "dead"}, counts
        code, out = await s.sup.run_once(
            ServiceSpec("dlq", medscribe_argv("dlq", "list", "--limit", "500"), s.env)
        )
        assert code == 0, "medscribe dlq list failed on the dead-letter stream"
        assert out.strip()
        print(f"bad input: {counts} injected in {time.monotonic() - t0:.1f} s")
    s.assert_no_phi_in_logs()
