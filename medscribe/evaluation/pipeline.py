"""Through-pipeline mode: every dialogue as tone-coded audio through the whole stack.

The STT simulator (subprocess), stt-bridge, editor and notes services (subprocesses, as
`medscribe demo` starts them) and one capture agent per dialogue; the LLM is the
evaluation's endpoint. Notes, statements and flags are read back through the staff API,
so this measures what a clinician would see.
"""

from __future__ import annotations

import asyncio
import os
import socket
import tempfile
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from medscribe.evaluation.direct import EncounterResult
from medscribe.evaluation.metrics import rouge, score_checks, section_completeness
from medscribe.supervisor import stack
from medscribe.supervisor.readiness import wait_http_ok, wait_tcp
from medscribe.supervisor.supervisor import (
    FileSink,
    ServiceSpec,
    Supervisor,
    medscribe_argv,
)
from shared.acibench import Dialogue
from shared.contracts import EncounterStarted, StreamNames, decode_control
from shared.errors import MedscribeError
from shared.streams import make_redis
from simulators.codec import encode, script_from_dialogue, write_wav

if TYPE_CHECKING:
    from medscribe.evaluation.options import Endpoint, EvalOptions

SCALE = 30  # simulator clocks, capture playback and bridge pacing all run 30x
PAUSE_MS = 1200  # above min_turn_silence: one turn per dialogue line
AT_ONCE = 3  # visits recorded at the same time
NOTE_TIMEOUT_S = 300.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PipelineError(MedscribeError):
    """A through-pipeline run failed (the message: a room, encounter id or service name)."""


async def _encounter_of_room(redis_url: str, names: StreamNames, room: str) -> str | None:
    client = make_redis(redis_url)
    try:
        rows = await client.xrange(names.control) or []
    finally:
        await client.aclose()
    for _id, fields in rows:
        msg = decode_control(fields or {})
        if isinstance(msg, EncounterStarted) and msg.room == room:
            return msg.encounter_id
    return None


async def _record(d: Dialogue, room: str, workdir: Path, env: dict[str, str], model: str) -> None:
    wav = workdir / f"{room}.wav"
    await asyncio.to_thread(write_wav, wav, encode(script_from_dialogue(d, PAUSE_MS)))
    argv = medscribe_argv(
        "capture", "--file", str(wav), "--speed", str(SCALE), "--room", room,
        "--clinician", "dr-eval", "--llm-model", model, "--spool-dir", str(workdir / room),
    )  # fmt: skip
    proc = await asyncio.create_subprocess_exec(
        *argv, env=env, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL
    )
    if await proc.wait() != 0:
        raise PipelineError(f"the capture agent of {room} failed (exit {proc.returncode})")


async def _note(client: httpx.AsyncClient, eid: str) -> tuple[dict[str, Any], dict[str, Any]]:
    deadline = time.monotonic() + NOTE_TIMEOUT_S
    while time.monotonic() < deadline:
        r = await client.get(f"/v1/encounters/{eid}")
        if r.status_code == 200 and r.json().get("note"):
            note = (await client.get(f"/v1/encounters/{eid}/note")).json()
            transcript = (await client.get(f"/v1/encounters/{eid}/transcript")).json()
            return note, transcript
        await asyncio.sleep(0.5)
    raise PipelineError(f"no note for encounter {eid} after {NOTE_TIMEOUT_S:.0f} s")


def _result(
    d: Dialogue,
    note: dict[str, Any],
    transcript: dict[str, Any],
    fabrications: list[dict[str, Any]],
    seconds: float,
) -> EncounterResult:
    turns = transcript.get("turns") or []
    statements = note.get("statements") or []
    sections = note.get("sections") or {}
    return EncounterResult(
        encounter_id=d.encounter_id,
        turns=len(turns),
        edited=sum(t.get("edit_status") == "edited" for t in turns),
        edit_fallbacks=sum(t.get("edit_status") == "fallback" for t in turns),
        requests=0,  # made by the services; see their metrics
        problem=note.get("problem"),
        rouge=rouge(str(note.get("text", "")), d.note),
        completeness=section_completeness(sections),
        checks=score_checks(statements, fabrications),
        seconds=round(seconds, 2),
        statements=statements,
    )


async def run_pipeline(
    dialogues: Sequence[Dialogue], ep: Endpoint, opts: EvalOptions
) -> list[EncounterResult]:
    with tempfile.TemporaryDirectory(prefix="medscribe-eval-") as tmp:
        return await _run(dialogues, ep, opts, Path(tmp))


async def _run(
    dialogues: Sequence[Dialogue], ep: Endpoint, opts: EvalOptions, work: Path
) -> list[EncounterResult]:
    sup = Supervisor(FileSink(work / "logs"), stop_timeout_s=10)
    names = StreamNames(f"eval-{uuid.uuid4().hex[:8]}:")
    stt_port, api_port, redis_port = free_port(), free_port(), free_port()
    api = f"http://127.0.0.1:{api_port}"
    try:
        redis = await stack.provide_redis(
            sup,
            os.environ.get("MEDSCRIBE_REDIS_URL", "redis://127.0.0.1:6379/0"),
            work / "redis",
            persistent=False,
            port=redis_port,
        )
        env = stack.simulated_env(
            dict(os.environ),
            work,
            redis_url=redis.url,
            prefix=names.prefix,
            stt_port=stt_port,
            llm_url=ep.url,
            api_port=api_port,
            scale=SCALE,
            ASSEMBLYAI_API_KEY=ep.key.get_secret_value(),
            MEDSCRIBE_LLM_API_KEY=ep.key.get_secret_value(),
            MEDSCRIBE_SOAP_MAX_TOKENS=str(opts.models.note_max_tokens),
            MEDSCRIBE_DEFAULT_LLM_MODEL=opts.models.note,
            MEDSCRIBE_LOG_FORMAT="json",
        )
        stt = ServiceSpec(
            "sim-stt",
            medscribe_argv("sim", "stt", "--port", str(stt_port), "--time-scale", str(SCALE)),
            env,
        )
        await sup.start(stt)
        await wait_tcp("sim-stt", "127.0.0.1", stt_port, 30, sup.get("sim-stt").proc)
        await stack.migrate(sup, env)
        token = await stack.create_token(sup, env, "eval-staff", "staff")
        for spec in stack.service_specs(env, restart=False):
            await sup.start(spec)
        await wait_http_ok("notes", f"{api}/healthz", 60, sup.get("notes").proc)
        results: list[EncounterResult] = []
        headers = {"Authorization": f"Bearer {token}"}
        async with httpx.AsyncClient(base_url=api, timeout=10, headers=headers) as client:
            for start in range(0, len(dialogues), AT_ONCE):
                batch = list(dialogues[start : start + AT_ONCE])
                t0 = time.monotonic()
                rooms = [f"room-{start + i}" for i in range(len(batch))]
                await asyncio.gather(
                    *(
                        _record(d, r, work, env, opts.models.edit)
                        for d, r in zip(batch, rooms, strict=True)
                    )
                )
                if sup.failed.is_set():
                    failed = sup.failed_service
                    raise PipelineError(f"service {failed.spec.name if failed else '?'} failed")
                for d, room in zip(batch, rooms, strict=True):
                    eid = await _encounter_of_room(redis.url, names, room)
                    if eid is None:
                        raise PipelineError(f"no encounter started for {room}")
                    note, transcript = await _note(client, eid)
                    results.append(
                        _result(d, note, transcript, ep.fabrications(), time.monotonic() - t0)
                    )
        return results
    finally:
        await sup.stop()
