"""Redis runs out of memory mid-visit (a private redis-server, maxmemory just below what
it holds, noeviction): every write is refused for a while, then memory is freed. The
capture agent spools and resends, no service dies, and the visit still gets its note."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from medscribe.supervisor import stack
from medscribe.supervisor.readiness import wait_http_ok, wait_tcp
from medscribe.supervisor.supervisor import FileSink, ServiceSpec, Supervisor
from shared.acibench import Dialogue
from shared.contracts import StreamNames
from shared.streams import make_redis
from simulators.codec import encode, normalize_text, script_from_dialogue, write_wav
from tests.e2e.test_aci_pipeline import auth, encounters_by_room, wait_notes
from tests.helpers.procs import RedisServer, free_port, medscribe_cmd, subprocess_env

pytestmark = [pytest.mark.slow, pytest.mark.timeout(420)]

SCALE = 30
PICK = "D2N072"
BALLAST = 16 * 1024 * 1024
OOM_FOR_S = 4.0


async def test_visit_survives_redis_out_of_memory(
    tmp_path: Path,
    private_redis: RedisServer,
    names: StreamNames,
    aci_dialogues: list[Dialogue],
) -> None:
    dialogue = next((d for d in aci_dialogues if d.encounter_id == PICK), None)
    if dialogue is None:
        pytest.skip(f"ACI-Bench file lacks {PICK}")
    redis_url = private_redis.url
    admin = make_redis(redis_url)
    logs = FileSink(tmp_path / "logs")
    sup = Supervisor(logs, stop_timeout_s=10)
    stt_port, llm_port, api_port = free_port(), free_port(), free_port()
    api = f"http://127.0.0.1:{api_port}"
    db_url = f"sqlite+aiosqlite:///{tmp_path / 'notes.db'}"
    env = stack.simulated_env(
        subprocess_env(),
        tmp_path,
        redis_url=redis_url,
        prefix=names.prefix,
        stt_port=stt_port,
        llm_url=f"http://127.0.0.1:{llm_port}",
        api_port=api_port,
        scale=SCALE,
        db_url=db_url,
        ASSEMBLYAI_API_KEY="sim-key",
        # A turn whose edit was refused is redelivered after this idle time (default 30 s).
        MEDSCRIBE_CLAIM_IDLE_MS="2000",
        MEDSCRIBE_CLAIM_EVERY_S="0.5",
    )
    sims = [
        ServiceSpec("sim-stt", [*medscribe_cmd(), "sim", "stt", "--port", str(stt_port),
                                "--time-scale", str(SCALE)], env, stop_group="sims"),
        ServiceSpec("sim-llm", [*medscribe_cmd(), "sim", "llm", "--port", str(llm_port)], env,
                    stop_group="sims"),
    ]  # fmt: skip
    try:
        # Memory that "something else" holds; freeing it ends the shortage.
        for _ in range(BALLAST // 65536):
            await admin.append(f"{names.prefix}ballast", b"\0" * 65536)
        await admin.config_set("maxmemory-policy", "noeviction")
        for spec in sims:
            await sup.start(spec)
        # The migration runs while the simulators start, the token while the services do.
        await asyncio.gather(
            wait_tcp("sim-stt", "127.0.0.1", stt_port, 30, sup.get("sim-stt").proc),
            wait_tcp("sim-llm", "127.0.0.1", llm_port, 30, sup.get("sim-llm").proc),
            stack.migrate(sup, env),
        )
        token_made = asyncio.ensure_future(stack.create_token(sup, env, "oom-staff", "staff"))
        for spec in stack.service_specs(env, restart=False):
            await sup.start(spec)
        await wait_http_ok("notes", f"{api}/healthz", 60, sup.get("notes").proc)
        staff = await token_made

        wav = tmp_path / "visit.wav"
        write_wav(wav, encode(script_from_dialogue(dialogue, 1200)))
        capture = await asyncio.create_subprocess_exec(
            *medscribe_cmd(), "capture", "--file", str(wav), "--speed", str(SCALE),
            "--room", "room-oom", "--clinician", "dr-oom",
            "--llm-model", "claude-haiku-4-5-20251001", "--spool-dir", str(tmp_path / "spool"),
            env=env, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        # The visit is under way (audio flowing) before memory runs out, however slowly
        # the agent started on a loaded machine.
        started = time.monotonic()
        while not (eid := (await encounters_by_room(redis_url, names)).get("room-oom")) or (
            await admin.xlen(names.audio(eid)) < 40
        ):
            assert capture.returncode is None, "capture ended before the visit got going"
            assert time.monotonic() - started < 180, "the visit never started"
            await asyncio.sleep(0.1)
        # Below what Redis holds, so that every write is refused until the ballast goes. Just
        # above it, the headroom came and went with the services' trims and acks, and the
        # capture agent's writes could slip through the whole window (its log then had no
        # out-of-memory line to check).
        used = int((await admin.info("memory"))["used_memory"])
        await admin.config_set("maxmemory", str(used - 1024 * 1024))
        refused_from = time.monotonic()
        while time.monotonic() - refused_from < OOM_FOR_S or not await _refusals(admin):
            assert not sup.failed.is_set(), sup.failed_service
            assert time.monotonic() - refused_from < 60, "Redis never refused a write"
            await asyncio.sleep(0.2)
        refused = await _refusals(admin)
        await admin.delete(f"{names.prefix}ballast")  # memory freed

        _, err = await asyncio.wait_for(capture.communicate(), 120)
        assert capture.returncode == 0, err.decode()[-2000:]
        await wait_notes(api, staff, [eid])
        assert not sup.failed.is_set(), sup.failed_service
        async with httpx.AsyncClient(base_url=api, timeout=10) as client:
            r = await client.get(f"/v1/encounters/{eid}/transcript", headers=auth(staff))
        assert r.status_code == 200, r.text
        got = [t["original_text"] for t in r.json()["turns"]]
        assert got == [normalize_text(t.text) for t in dialogue.turns], "transcript differs"
    finally:
        await sup.stop()
        logs.close()
        await admin.aclose()
    capture_log = err.decode()
    # Redis really refused writes while the visit ran, and the agent said why.
    assert refused > 0
    assert "redis_out_of_memory_spooling" in capture_log


async def _refusals(admin: Any) -> int:
    """Writes Redis refused for lack of memory so far (INFO errorstats, Redis >= 6.2)."""
    errors = await admin.info("errorstats")
    return int(errors.get("errorstat_OOM", {}).get("count", 0))
