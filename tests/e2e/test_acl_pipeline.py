"""End to end as deployed (issue 27): Redis loaded with deploy/users.acl, every service
logged in as its own production user, and the production rate limit on (RPM 30, as in
.env.example). Two rooms' visits must become notes with every turn through the LLM (none
published unedited), nothing dead-lettered, and not one command refused by an ACL. One room
records with the shared `capture` user, the other with its own credentials (issue 19: made
as `medscribe notes room add` makes them, its control forwarded by the notes service's gate)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
import redis as sync_redis

from medscribe.supervisor import stack
from medscribe.supervisor.readiness import wait_http_ok, wait_tcp
from medscribe.supervisor.supervisor import (
    FileSink,
    ServiceSpec,
    Supervisor,
    medscribe_argv,
)
from services.notes import room_admin
from shared import rooms
from shared.acibench import Dialogue
from shared.contracts import EditedTurn, EncounterStarted, StreamNames, decode, decode_control
from shared.streams import make_redis
from simulators.codec import encode, script_from_dialogue, write_wav
from tests.helpers.acl import PROD_PREFIX, AclRedis
from tests.helpers.procs import free_port, medscribe_cmd, subprocess_env

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

SCALE = 30
PAUSE_MS = 1200
# 7 + 21 turns: under RPM 30, so no turn has to wait a minute for the window to move
PICK = ("D2N085", "D2N086")
RPM = "30"
NOTE_TIMEOUT_S = 120
N = StreamNames(PROD_PREFIX)


def pick(dialogues: list[Dialogue]) -> list[Dialogue]:
    by_id = {d.encounter_id: d for d in dialogues}
    if any(p not in by_id for p in PICK):
        pytest.skip(f"ACI-Bench file lacks one of {PICK}")
    return [by_id[p] for p in PICK]


async def wait_notes(api: str, token: str, ids: list[str]) -> None:
    deadline = time.monotonic() + NOTE_TIMEOUT_S
    pending = set(ids)
    async with httpx.AsyncClient(base_url=api, timeout=10) as client:
        while pending and time.monotonic() < deadline:
            for eid in list(pending):
                r = await client.get(
                    f"/v1/encounters/{eid}", headers={"Authorization": f"Bearer {token}"}
                )
                if r.status_code == 200 and r.json().get("note"):
                    pending.discard(eid)
            await asyncio.sleep(0.5)
    assert not pending, f"no note for {sorted(pending)} after {NOTE_TIMEOUT_S} s"


async def test_visits_become_edited_notes_with_production_users_and_rate_limit(
    tmp_path: Path, acl_redis: AclRedis, aci_dialogues: list[Dialogue]
) -> None:
    dialogues = pick(aci_dialogues)
    logs = FileSink(tmp_path / "logs")
    sup = Supervisor(logs, stop_timeout_s=10)
    stt_port, llm_port, api_port = free_port(), free_port(), free_port()
    api = f"http://127.0.0.1:{api_port}"
    db = f"sqlite+aiosqlite:///{tmp_path / 'notes.db'}"
    base = stack.simulated_env(
        subprocess_env(),
        tmp_path,
        redis_url="redis://nobody@127.0.0.1:9/0",  # each service gets its own
        prefix=PROD_PREFIX,
        stt_port=stt_port,
        llm_url=f"http://127.0.0.1:{llm_port}",
        api_port=api_port,
        scale=SCALE,
        db_url=db,
        ASSEMBLYAI_API_KEY="sim-key",
        MEDSCRIBE_RPM_PER_MODEL=RPM,
    )

    def env(user: str) -> dict[str, str]:
        return {**base, "MEDSCRIBE_REDIS_URL": acl_redis.url(user)}

    sims = [
        ServiceSpec("sim-stt", [*medscribe_cmd(), "sim", "stt", "--port", str(stt_port),
                                "--time-scale", str(SCALE)], base, stop_group="sims"),
        ServiceSpec("sim-llm", [*medscribe_cmd(), "sim", "llm", "--port", str(llm_port)], base,
                    stop_group="sims"),
    ]  # fmt: skip
    services = [
        ServiceSpec(
            "stt-bridge", medscribe_argv("stt-bridge"), env("bridge"), stop_group=stack.PIPELINE
        ),
        ServiceSpec("editor", medscribe_argv("editor"), env("editor"), stop_group=stack.PIPELINE),
        ServiceSpec(
            "notes", medscribe_argv("notes", "run"), env("notes"), stop_group=stack.PIPELINE
        ),
    ]
    try:
        for spec in sims:
            await sup.start(spec)
        # The migration runs while the simulators start, the token while the services do.
        await asyncio.gather(
            wait_tcp("sim-stt", "127.0.0.1", stt_port, 30, sup.get("sim-stt").proc),
            wait_tcp("sim-llm", "127.0.0.1", llm_port, 30, sup.get("sim-llm").proc),
            stack.migrate(sup, env("notes")),
        )
        token_made = asyncio.ensure_future(
            stack.create_token(sup, env("notes"), "acl-staff", "staff")
        )
        for spec in services:
            await sup.start(spec)
        await wait_http_ok("notes", f"{api}/healthz", 60, sup.get("notes").proc)
        staff = await token_made

        room_admin_redis = make_redis(acl_redis.admin_url)
        try:
            _, room_password = await room_admin.add(room_admin_redis, N, "exam-1")
        finally:
            await room_admin_redis.aclose()
        port = acl_redis.admin_url.rsplit(":", 1)[1].split("/")[0]
        room_url = f"redis://room-exam-1:{quote(room_password, safe='')}@127.0.0.1:{port}/0"
        captures = []
        for i, d in enumerate(dialogues):
            cap_env = env("capture") if i == 0 else {**base, "MEDSCRIBE_REDIS_URL": room_url}
            wav = tmp_path / f"{d.encounter_id}.wav"
            write_wav(wav, encode(script_from_dialogue(d, PAUSE_MS)))
            captures.append(
                await asyncio.create_subprocess_exec(
                    *medscribe_cmd(), "capture", "--file", str(wav), "--speed", str(SCALE),
                    "--room", f"room-{i}" if i == 0 else "exam-1", "--clinician", "dr-acl",
                    "--llm-model", "claude-haiku-4-5-20251001",
                    "--spool-dir", str(tmp_path / f"spool-{i}"),
                    env=cap_env,
                    stdout=asyncio.subprocess.DEVNULL,
                    stderr=asyncio.subprocess.PIPE,
                )
            )  # fmt: skip
        for cap in captures:
            _, err = await asyncio.wait_for(cap.communicate(), 120)
            assert cap.returncode == 0, err.decode()[-2000:]

        admin = sync_redis.Redis.from_url(acl_redis.admin_url)
        try:
            started = [decode_control(f) for _, f in admin.xrange(N.control)]
            ids = [m.encounter_id for m in started if isinstance(m, EncounterStarted)]
            assert len(ids) == len(dialogues)
            assert [rooms.room_of_encounter(e) for e in ids].count("exam-1") == 1
            await wait_notes(api, staff, ids)
            assert not sup.failed.is_set(), sup.failed_service

            edited = [decode(f, EditedTurn) for _, f in admin.xrange(N.edited)]
            assert len(edited) == sum(len(d.turns) for d in dialogues)
            not_edited = [(t.encounter_id, t.seq, t.edit_reason) for t in edited
                          if t.edit_status == "fallback"]  # fmt: skip
            assert not_edited == []
            assert admin.xlen(N.dead) == 0
            # Not one refusal by the ACLs, but the room's live view asking for text once.
            refused = [
                (e["username"], e["object"], e["reason"]) for e in admin.acl_log()
                if not (e["username"] == "capture"
                        and (e["object"], e["reason"]) in ((N.edited, "key"), ("xread", "command")))
            ]  # fmt: skip
            assert refused == []
            # ... and the limiter really ran: its window holds admissions, never more than
            # the limit. (Not one per turn: admissions older than the window are pruned,
            # and a slow machine spreads the visits over more than a minute.)
            rate_keys = admin.keys(N.key("editor", "rate", "*"))
            assert rate_keys
            assert all(0 < admin.zcard(k) <= int(RPM) for k in rate_keys)
        finally:
            admin.close()
    finally:
        await sup.stop()
        logs.close()
    for name in ("stt-bridge", "editor", "notes"):
        text = (tmp_path / "logs" / f"{name}.log").read_text()
        assert "NOPERM" not in text
        assert "Traceback" not in text
