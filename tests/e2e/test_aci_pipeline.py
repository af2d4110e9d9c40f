"""End to end with real processes: simulators, stt-bridge, editor and notes (SQLite, then
PostgreSQL), three capture agents streaming three ACI-Bench dialogues at once, tone-coded,
at a high time scale. Each must become a complete encounter whose transcript matches its
dialogue turn for turn, with a SOAP note the API gives a staff token and the owning
clinician, and refuses to another clinician."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import pytest

from medscribe.supervisor import stack
from medscribe.supervisor.readiness import wait_http_ok, wait_tcp
from medscribe.supervisor.supervisor import FileSink, ServiceSpec, Supervisor
from shared.acibench import Dialogue
from shared.contracts import EncounterStarted, StreamNames, decode_control
from shared.streams import make_redis
from simulators.codec import encode, normalize_text, script_from_dialogue, write_wav
from tests.helpers.procs import free_port, medscribe_cmd, subprocess_env

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

SCALE = 30  # simulators' clocks, capture playback and bridge pacing all run 30x
PAUSE_MS = 1200  # above the default min_turn_silence (800 ms): one turn per line
PICK = ("D2N072", "D2N069", "D2N083")  # short dialogues with many turns
NOTE_TIMEOUT_S = 120
CLINICIAN = "dr-aci"
KEEP_TAIL = 40  # entries the shared streams keep after trimming


def pick(dialogues: list[Dialogue]) -> list[Dialogue]:
    by_id = {d.encounter_id: d for d in dialogues}
    missing = [p for p in PICK if p not in by_id]
    if missing:
        pytest.skip(f"ACI-Bench file lacks {missing}")
    return [by_id[p] for p in PICK]


async def encounters_by_room(redis_url: str, names: StreamNames) -> dict[str, str]:
    client = make_redis(redis_url)
    try:
        rows = await client.xrange(names.control) or []
    finally:
        await client.aclose()
    out = {}
    for _id, fields in rows:
        msg = decode_control(fields)
        if isinstance(msg, EncounterStarted):
            out[msg.room] = msg.encounter_id
    return out


async def wait_notes(api: str, token: str, ids: list[str]) -> None:
    deadline = time.monotonic() + NOTE_TIMEOUT_S
    pending = set(ids)
    async with httpx.AsyncClient(base_url=api, timeout=10) as client:
        while pending and time.monotonic() < deadline:
            for eid in list(pending):
                r = await client.get(f"/v1/encounters/{eid}", headers=auth(token))
                if r.status_code == 200 and r.json().get("note"):
                    pending.discard(eid)
            await asyncio.sleep(0.5)
    assert not pending, f"no note for {sorted(pending)} after {NOTE_TIMEOUT_S} s"


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'notes.db'}"
    pg = request.getfixturevalue("postgres_url")
    return pg.replace("postgresql://", "postgresql+asyncpg://", 1)


async def test_three_concurrent_visits_become_complete_notes(
    tmp_path: Path,
    redis_url: str,
    names: StreamNames,
    database_url: str,
    aci_dialogues: list[Dialogue],
) -> None:
    dialogues = pick(aci_dialogues)
    logs = FileSink(tmp_path / "logs")
    sup = Supervisor(logs, stop_timeout_s=10)
    stt_port, llm_port, api_port = free_port(), free_port(), free_port()
    api = f"http://127.0.0.1:{api_port}"
    env = stack.simulated_env(
        subprocess_env(),
        tmp_path,
        redis_url=redis_url,
        prefix=names.prefix,
        stt_port=stt_port,
        llm_url=f"http://127.0.0.1:{llm_port}",
        api_port=api_port,
        scale=SCALE,
        db_url=database_url,
        ASSEMBLYAI_API_KEY="sim-key",
        # Redis lifecycle at test speed: release at once, trim often, a short tail.
        MEDSCRIBE_REDIS_RELEASE_DELAY_S="0",
        MEDSCRIBE_REDIS_RELEASE_EVERY_S="0.3",
        MEDSCRIBE_STREAM_TRIM_EVERY_S="0.3",
        MEDSCRIBE_STREAM_KEEP_TAIL=str(KEEP_TAIL),
    )
    sims = [
        ServiceSpec("sim-stt", [*medscribe_cmd(), "sim", "stt", "--port", str(stt_port),
                                "--time-scale", str(SCALE)], env, stop_group="sims"),
        ServiceSpec("sim-llm", [*medscribe_cmd(), "sim", "llm", "--port", str(llm_port)], env,
                    stop_group="sims"),
    ]  # fmt: skip
    try:
        for spec in sims:
            await sup.start(spec)
        # Start-up steps that do not need each other run side by side: the migration
        # while the simulators start, the tokens while the services start.
        await asyncio.gather(
            wait_tcp("sim-stt", "127.0.0.1", stt_port, 30, sup.get("sim-stt").proc),
            wait_tcp("sim-llm", "127.0.0.1", llm_port, 30, sup.get("sim-llm").proc),
            stack.migrate(sup, env),
        )
        tokens = asyncio.gather(
            stack.create_token(sup, env, "e2e-staff", "staff"),
            _clinician_token(sup, env, "e2e-owner", CLINICIAN),
            _clinician_token(sup, env, "e2e-other", "dr-someone-else"),
        )
        for spec in stack.service_specs(env, restart=False):
            await sup.start(spec)
        await wait_http_ok("notes", f"{api}/healthz", 60, sup.get("notes").proc)
        staff, mine, other = await tokens

        captures = []
        for i, d in enumerate(dialogues):
            wav = tmp_path / f"{d.encounter_id}.wav"
            write_wav(wav, encode(script_from_dialogue(d, PAUSE_MS)))
            captures.append(
                await asyncio.create_subprocess_exec(
                    *medscribe_cmd(),
                    "capture",
                    "--file",
                    str(wav),
                    "--speed",
                    str(SCALE),
                    "--room",
                    f"room-{i}",
                    "--clinician",
                    CLINICIAN,
                    "--llm-model",
                    "claude-haiku-4-5-20251001",
                    "--spool-dir",
                    str(tmp_path / f"spool-{i}"),
                    env=env,
                    stdout=asyncio.subprocess.DEVNULL,
                    stderr=asyncio.subprocess.PIPE,
                )  # fmt: skip
            )
        for cap in captures:
            _, err = await asyncio.wait_for(cap.communicate(), 120)
            assert cap.returncode == 0, err.decode()[-2000:]
        assert not sup.failed.is_set(), sup.failed_service

        rooms = await encounters_by_room(redis_url, names)
        ids = [rooms[f"room-{i}"] for i in range(len(dialogues))]
        await wait_notes(api, staff, ids)

        async with httpx.AsyncClient(base_url=api, timeout=10) as client:
            for eid, d in zip(ids, dialogues, strict=True):
                r = await client.get(f"/v1/encounters/{eid}/transcript", headers=auth(staff))
                assert r.status_code == 200, r.text
                tr = r.json()
                want = [normalize_text(t.text) for t in d.turns]
                assert [t["seq"] for t in tr["turns"]] == list(range(len(want)))
                assert [t["original_text"] for t in tr["turns"]] == want
                assert tr["missing_seqs"] == []
                assert tr["expected_turns"] == len(want)
                # one STT speaker label per dialogue speaker, consistently
                labels: dict[str, str] = {}
                for got, turn in zip(tr["turns"], d.turns, strict=True):
                    assert labels.setdefault(turn.speaker, got["speaker"]) == got["speaker"]

                note = await client.get(f"/v1/encounters/{eid}/note", headers=auth(staff))
                assert note.status_code == 200, note.text
                body = str(note.json())
                for section in ("subjective", "objective", "assessment", "plan"):
                    assert section in body.lower()
                assert (await client.get(f"/v1/encounters/{eid}/note",
                                         headers=auth(mine))).status_code == 200  # fmt: skip
                refused = await client.get(f"/v1/encounters/{eid}/note", headers=auth(other))
                assert refused.status_code in (403, 404), refused.text
                assert "subjective" not in refused.text.lower()
        await redis_holds_only_what_is_in_flight(redis_url, names, ids, api, staff)
    finally:
        await sup.stop()
        logs.close()
    for name in ("stt-bridge", "editor", "notes"):
        text = (tmp_path / "logs" / f"{name}.log").read_text()
        for d in dialogues:  # PHI never reaches a log
            longest = max((t.text for t in d.turns), key=len)
            assert longest not in text, f"{name} logged transcript text"


async def redis_holds_only_what_is_in_flight(
    redis_url: str, names: StreamNames, ids: list[str], api: str, token: str
) -> None:
    """Every visit is done: none of its keys remain, and the shared streams are trimmed
    down to the debugging tail (nothing is unacknowledged any more)."""
    client = make_redis(redis_url)
    try:
        turns_total = 0
        async with httpx.AsyncClient(base_url=api, timeout=10) as http:
            for eid in ids:
                enc = (await http.get(f"/v1/encounters/{eid}", headers=auth(token))).json()
                turns_total += enc["expected_turns"]
        assert turns_total > KEEP_TAIL  # so the bound below says something

        async def leftovers() -> list[str]:
            keys = [k.decode() async for k in client.scan_iter(match=f"{names.prefix}*")]
            return sorted(k for k in keys if any(eid in k for eid in ids))

        async def long_streams() -> dict[str, int]:
            lengths = {s: int(await client.xlen(s)) for s in (names.turns, names.edited)}
            return {s: n for s, n in lengths.items() if n > KEEP_TAIL}

        deadline = time.monotonic() + 60
        while (await leftovers() or await long_streams()) and time.monotonic() < deadline:
            await asyncio.sleep(0.3)
        assert await leftovers() == []
        assert await long_streams() == {}
        assert await client.xlen(names.control) <= KEEP_TAIL
        async with httpx.AsyncClient(base_url=api, timeout=10) as http:
            for eid in ids:
                enc = (await http.get(f"/v1/encounters/{eid}", headers=auth(token))).json()
                assert enc["audio_released_at"] is not None
                assert enc["audio_warning"] is None
    finally:
        await client.aclose()


async def _clinician_token(sup: Supervisor, env: dict[str, str], name: str, who: str) -> str:
    argv = [*medscribe_cmd(), "notes", "token", "create", "--name", name, "--role",
            "clinician", "--clinician", who]  # fmt: skip
    code, out = await sup.run_once(ServiceSpec("token", argv, env))
    assert code == 0
    return out.strip().splitlines()[0]
