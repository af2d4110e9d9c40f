"""The real multi-process stack under fault: the two simulators (in this process, so a
scenario can change their faults while they run), stt-bridge(s), editor(s) and notes as
child processes under the project's Supervisor (restarted after a kill, like `medscribe
up`), capture agents as subprocesses playing tone-coded ACI-Bench dialogues, and the checks
every scenario ends with."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from medscribe.supervisor import stack
from medscribe.supervisor.readiness import wait_http_ok
from medscribe.supervisor.supervisor import (
    Backoff,
    FileSink,
    Service,
    ServiceSpec,
    Supervisor,
    child_env,
    medscribe_argv,
)
from shared.acibench import Dialogue
from shared.contracts import EncounterStarted, StreamNames, decode_audio, decode_control
from shared.streams import make_redis
from simulators.codec import decode, encode, normalize_text, script_from_dialogue, write_wav
from simulators.llm_server import LlmSimConfig, LlmSimulator, start_llm_simulator
from simulators.stt_server import SttSimConfig, SttSimulator, start_stt_simulator
from tests.chaos.report import Row
from tests.helpers.procs import free_port, subprocess_env

SCALE = 10.0  # simulator clocks, capture playback and bridge pacing all run 10x
PAUSE_MS = 1200  # above min_turn_silence (800 ms): one turn per dialogue line
MODEL = "claude-haiku-4-5-20251001"
PHI_MIN_CHARS = 24  # turn texts at least this long are searched for in the logs
SPEECH = re.compile(r"\[speech [0-9.]+ s\]")

# Short timeouts so faults resolve within seconds; each is a documented setting.
FAST_ENV = {
    "MEDSCRIBE_LEASE_MS": "2000",
    "MEDSCRIBE_SCAN_EVERY_S": "0.5",
    "MEDSCRIBE_BACKOFF_INITIAL_S": "0.2",
    "MEDSCRIBE_BACKOFF_MAX_S": "2",
    "MEDSCRIBE_RATE_LIMIT_BACKOFF_S": "0.5",
    "MEDSCRIBE_BEGIN_TIMEOUT_S": "3",
    "MEDSCRIBE_STOP_WAIT_S": "10",
    "MEDSCRIBE_RPM_PER_MODEL": "0",
    "MEDSCRIBE_GATEWAY_TIMEOUT_S": "1.5",
    "MEDSCRIBE_GATEWAY_DEADLINE_S": "4",
    "MEDSCRIBE_GATEWAY_BACKOFF_S": "0.1",
    "MEDSCRIBE_BREAKER_COOLDOWN_S": "1",
    "MEDSCRIBE_CLAIM_IDLE_MS": "2000",
    "MEDSCRIBE_CLAIM_EVERY_S": "0.5",
    "MEDSCRIBE_GRACE_PERIOD_S": "30",
    "MEDSCRIBE_SCHEDULER_POLL_S": "0.2",
    "MEDSCRIBE_NOTE_RETRY_INITIAL_S": "0.3",
    "MEDSCRIBE_NOTE_RETRY_MAX_S": "1",
    "MEDSCRIBE_NOTE_LEASE_S": "5",
    # The checks read each visit's audio back from Redis after its note: keep it meanwhile.
    "MEDSCRIBE_REDIS_RELEASE_DELAY_S": "3600",
}


def transcript_of(pcm: bytes) -> list[str]:
    """The turns a transcript of ``pcm`` holds: what a capture agent killed mid-visit left
    in Redis. Its last turn is cut wherever the kill landed; a transcript turn never ends
    in a space (the recogniser joins words; the bridge strips and skips empty finals), so
    a cut just after a space or a speaker header must not expect one."""
    out: list[str] = []
    for t in decode(pcm):
        # A kill mid-symbol leaves a scrap of tone the codec calls "[speech 0.16 s]"; the
        # STT simulator's placeholder for the same audio is "[speech]".
        text = SPEECH.sub("[speech]", normalize_text(t.text)).strip()
        if text:
            out.append(text)
    return out


def short(d: Dialogue, turns: int) -> Dialogue:
    return Dialogue(d.encounter_id, d.turns[:turns], "")


def pick_dialogues(
    all_d: list[Dialogue], count: int, turns: int, offset: int = 0
) -> list[Dialogue]:
    """``count`` dialogues with at least ``turns`` turns, cut to their first ``turns``."""
    usable = [d for d in all_d if len(d.turns) >= turns]
    chosen = [usable[(offset + i) % len(usable)] for i in range(count)]
    return [short(d, turns) for d in chosen]


@dataclass
class Visit:
    dialogue: Dialogue
    room: str
    wav: Path
    pcm: bytes
    spool: Path
    log: Path
    proc: asyncio.subprocess.Process | None = None
    encounter_id: str | None = None
    cut_short: bool = False  # the capture agent was killed: expect what reached Redis
    never_started: bool = False  # killed before it created its spool: nothing was recorded

    @property
    def want(self) -> list[str]:
        return [normalize_text(t.text) for t in self.dialogue.turns]


@dataclass
class Exit:
    name: str
    code: int | None
    expected: bool


@dataclass
class ChaosStack:
    tmp: Path
    redis_url: str
    names: StreamNames
    database_url: str
    bridges: int = 1
    editors: int = 1
    scale: float = SCALE
    extra_env: dict[str, str] = field(default_factory=dict)
    stt_config: SttSimConfig | None = None
    llm_config: LlmSimConfig | None = None
    # Each service's own Redis URL ("bridge", "editor", "notes", "capture"), e.g. its
    # production ACL user; ``redis_url`` stays the harness's own (inspection) connection.
    redis_users: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.logdir = self.tmp / "logs"
        self.logs = FileSink(self.logdir)
        self.sup = Supervisor(self.logs, Backoff(initial_s=0.3, max_s=2.0), stop_timeout_s=5)
        self.exits: list[Exit] = []
        self._expected_kills: Counter[str] = Counter()
        self.sup.on_exit = self._on_exit
        self.api_port = 0
        self.api = ""
        self.stt: SttSimulator | None = None
        self.llm: LlmSimulator | None = None
        self.token = ""
        self.env: dict[str, str] = {}
        self.visits: list[Visit] = []
        self._redis: aioredis.Redis | None = None
        self._probes: list[asyncio.Task[None]] = []

    # -- life cycle -------------------------------------------------------------------
    async def __aenter__(self) -> ChaosStack:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def redis(self) -> aioredis.Redis:
        if self._redis is None:
            self._redis = make_redis(self.redis_url)
        return self._redis

    async def start(self) -> None:
        self.stt = await start_stt_simulator(self.stt_config or SttSimConfig(time_scale=self.scale))
        self.llm = await start_llm_simulator(self.llm_config or LlmSimConfig())
        self.api_port = free_port()  # after the simulators took theirs
        self.api = f"http://127.0.0.1:{self.api_port}"
        (self.tmp / "capture.env").write_text("# no room settings\n")
        self.env = child_env(
            subprocess_env(),
            MEDSCRIBE_REDIS_URL=self.redis_url,
            MEDSCRIBE_STREAM_PREFIX=self.names.prefix,
            ASSEMBLYAI_API_KEY="sim-key",
            MEDSCRIBE_STREAMING_URL=self.stt.url,
            MEDSCRIBE_LLM_GATEWAY_URL=self.llm.base_url,
            MEDSCRIBE_DATABASE_URL=self.database_url,
            DATABASE_URL=self.database_url,
            MEDSCRIBE_EXPORT_DIR=str(self.tmp / "exports"),
            MEDSCRIBE_API_PORT=str(self.api_port),
            MEDSCRIBE_PACE_FACTOR=str(self.scale),
            MEDSCRIBE_CONFIG=str(self.tmp / "capture.env"),
            **{**FAST_ENV, **self.extra_env},  # a scenario may override a FAST_ENV value
        )
        await stack.migrate(self.sup, self.env)
        # The token is written while the services start (nothing needs it before the API).
        token_made = asyncio.create_task(
            stack.create_token(self.sup, self.env, "chaos-staff", "staff")
        )
        try:
            for spec in self.specs():
                await self.sup.start(spec)
            await self.wait_api()
            self.token = await token_made
        finally:
            token_made.cancel()  # a no-op once it is done

    def env_of(self, service: str) -> dict[str, str]:
        url = self.redis_users.get(service)
        return self.env if url is None else {**self.env, "MEDSCRIBE_REDIS_URL": url}

    def specs(self) -> list[ServiceSpec]:
        bridge_env, editor_env = self.env_of("bridge"), self.env_of("editor")
        group = stack.PIPELINE  # stopped together at the end, as `medscribe up` does
        out = [
            ServiceSpec(f"bridge-{i + 1}", medscribe_argv("stt-bridge"), bridge_env, restart=True,
                        stop_group=group)
            for i in range(self.bridges)
        ]  # fmt: skip
        out += [
            ServiceSpec(f"editor-{i + 1}", medscribe_argv("editor"), editor_env, restart=True,
                        stop_group=group)
            for i in range(self.editors)
        ]  # fmt: skip
        # A stable consumer name, as a deployment gives it: a restarted notes re-reads
        # its own pending entries at once instead of waiting for the claim timeout.
        notes_env = {**self.env_of("notes"), "MEDSCRIBE_CONSUMER_NAME": "notes-1"}
        out.append(ServiceSpec("notes", medscribe_argv("notes", "run"), notes_env, restart=True,
                               stop_group=group))  # fmt: skip
        return out

    async def wait_api(self, timeout: float = 60) -> float:
        t0 = time.monotonic()
        await wait_http_ok("notes", f"{self.api}/healthz", timeout, None)
        return time.monotonic() - t0

    async def close(self) -> None:
        await self.settle_probes()
        for v in self.visits:
            if v.proc is not None and v.proc.returncode is None:
                v.proc.kill()
                await v.proc.wait()
        await self.sup.stop()
        self.logs.close()
        if self.stt is not None:
            await self.stt.close()
        if self.llm is not None:
            await self.llm.close()
        if self._redis is not None:
            await self._redis.aclose()

    def _on_exit(self, svc: Service) -> None:
        name = svc.spec.name
        expected = self._expected_kills[name] > 0
        if expected:
            self._expected_kills[name] -= 1
        self.exits.append(Exit(name, svc.exit_code, expected))

    def kill(self, name: str) -> None:
        """kill -9 a service; the supervisor restarts it (as `medscribe up` would)."""
        svc = self.sup.get(name)
        assert svc.running, f"{name} is not running"
        self._expected_kills[name] += 1
        assert svc.pid is not None
        os.killpg(svc.pid, signal.SIGKILL)

    def unexpected_exits(self) -> list[Exit]:
        return [e for e in self.exits if not e.expected]

    # -- visits -----------------------------------------------------------------------
    @property
    def recorded(self) -> list[Visit]:
        return [v for v in self.visits if not v.never_started]

    def visit(self, d: Dialogue, room: str) -> Visit:
        wav = self.tmp / f"{room}.wav"
        pcm = encode(script_from_dialogue(d, PAUSE_MS))
        write_wav(wav, pcm)
        v = Visit(
            d, room, wav, pcm, self.tmp / f"spool-{room}", self.logdir / f"capture-{room}.log"
        )
        self.visits.append(v)
        return v

    async def play(
        self, v: Visit, *, speed: float | None = None, redis_url: str | None = None
    ) -> None:
        argv = medscribe_argv(
            "capture", "--file", str(v.wav), "--speed", str(speed or self.scale), "--room", v.room,
            "--llm-model", MODEL, "--spool-dir", str(v.spool),
            "--redis-url", redis_url or self.redis_users.get("capture", self.redis_url),
        )  # fmt: skip
        with v.log.open("ab") as out:
            v.proc = await asyncio.create_subprocess_exec(
                *argv, env=self.env, stdin=asyncio.subprocess.DEVNULL, stdout=out,
                stderr=asyncio.subprocess.STDOUT,
            )  # fmt: skip

    async def finish(self, v: Visit, timeout: float = 120) -> int:
        assert v.proc is not None
        return await asyncio.wait_for(v.proc.wait(), timeout)

    async def kill_capture(self, v: Visit) -> None:
        assert v.proc is not None
        v.cut_short = True
        v.proc.send_signal(signal.SIGKILL)
        await v.proc.wait()
        # The agent creates the visit's spool folder before it writes anything to Redis.
        v.never_started = not (v.spool.is_dir() and any(v.spool.iterdir()))

    async def flush_capture(self, v: Visit, redis_url: str | None = None) -> int:
        """The agent's next start (`--flush-only`): sends what the spool kept, closes the visit."""
        url = redis_url or self.redis_users.get("capture", self.redis_url)
        argv = medscribe_argv("capture", "--flush-only", "--spool-dir", str(v.spool),
                              "--redis-url", url)  # fmt: skip
        with v.log.open("ab") as out:
            proc = await asyncio.create_subprocess_exec(
                *argv, env=self.env, stdin=asyncio.subprocess.DEVNULL, stdout=out,
                stderr=asyncio.subprocess.STDOUT,
            )  # fmt: skip
            return await asyncio.wait_for(proc.wait(), 60)

    async def encounter_ids(self, timeout: float = 30) -> None:
        """Fill each visit's encounter id from its EncounterStarted on the control stream."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                rows: Any = await self.redis.xrange(self.names.control)
            except RedisError:
                rows = []  # the Redis-restart scenario
            by_room: dict[str, str] = {}
            for _id, fields in rows:
                try:
                    msg = decode_control(fields)
                except Exception:  # noqa: BLE001 - bad entries of the bad-input scenario
                    continue
                if isinstance(msg, EncounterStarted):
                    by_room.setdefault(msg.room, msg.encounter_id)
            for v in self.visits:
                v.encounter_id = v.encounter_id or by_room.get(v.room)
            if all(v.encounter_id for v in self.recorded):
                return
            assert time.monotonic() < deadline, "a capture agent never started its encounter"
            await asyncio.sleep(0.1)

    # -- flow and recovery --------------------------------------------------------------
    async def xlen(self, stream: str, timeout: float = 30) -> int:
        deadline = time.monotonic() + timeout
        while True:
            try:
                return int(await self.redis.xlen(stream))
            except RedisError:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.05)  # Redis itself is the fault being recovered from

    async def growth_after(self, stream: str, timeout: float = 60) -> float | None:
        """Seconds until ``stream`` gets a new entry (None if it never does in time)."""
        t0 = time.monotonic()
        base = await self.xlen(stream)
        while time.monotonic() - t0 < timeout:
            if await self.xlen(stream) > base:
                return time.monotonic() - t0
            await asyncio.sleep(0.05)
        return None

    async def api_answers(self, timeout: float = 60) -> float | None:
        """Seconds until the staff API answers a list request again (it needs the DB)."""
        t0 = time.monotonic()
        async with httpx.AsyncClient(base_url=self.api, timeout=5) as client:
            while time.monotonic() - t0 < timeout:
                try:
                    if (await client.get("/v1/encounters", headers=self.auth())).status_code == 200:
                        return time.monotonic() - t0
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.05)
        return None

    async def wait_turns(self, count: int, timeout: float = 60) -> None:
        """Until ``ms:turns`` holds ``count`` turns: faults keyed to the pipeline's progress,
        not to the wall clock, land mid-visit however loaded the machine is."""
        deadline = time.monotonic() + timeout
        while await self.xlen(self.names.turns) < count:
            assert time.monotonic() < deadline, f"fewer than {count} turns in {timeout} s"
            await asyncio.sleep(0.02)

    def measure(self, row: Row, coro: Any) -> asyncio.Task[None]:
        """Run a recovery probe in the background; its figure goes to ``row``."""

        async def run() -> None:
            took = await coro
            if took is not None:
                row.recovery_s.append(took)

        task = asyncio.create_task(run())
        self._probes.append(task)
        return task

    async def settle_probes(self) -> None:
        """End probes still waiting (their stream may have had nothing left to carry)."""
        for task in self._probes:
            task.cancel()
        await asyncio.gather(*self._probes, return_exceptions=True)

    # -- outcome checks -----------------------------------------------------------------
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    async def wait_outcomes(self, timeout: float = 90) -> dict[str, dict[str, Any]]:
        """Each visit's encounter once it has a note or a failed state (else fails)."""
        await self.encounter_ids()
        pending = {v.encounter_id for v in self.recorded if v.encounter_id}
        done: dict[str, dict[str, Any]] = {}
        deadline = time.monotonic() + timeout
        async with httpx.AsyncClient(base_url=self.api, timeout=10) as client:
            while pending and time.monotonic() < deadline:
                for eid in sorted(pending):
                    try:
                        r = await client.get(f"/v1/encounters/{eid}", headers=self.auth())
                    except httpx.HTTPError:
                        continue  # notes is being restarted
                    if r.status_code != 200:
                        continue
                    body = r.json()
                    if body.get("note") or body.get("status") == "failed":
                        done[eid] = body
                        pending.discard(eid)
                await asyncio.sleep(0.3)
        assert not pending, f"no note and no failed state for {sorted(pending)} in {timeout} s"
        return done

    async def audio_turns(self, v: Visit) -> list[str]:
        """What the recorded audio in Redis says (a capture killed mid-visit sent only part),
        after checking that audio: frames 0..n in order, each once, equal to the file's."""
        assert v.encounter_id is not None
        rows: Any = await self.redis.xrange(self.names.audio(v.encounter_id))
        frames = [decode_audio(f) for _id, f in rows]
        assert [f.seq for f in frames] == list(range(len(frames))), "audio lost or doubled"
        pcm = b"".join(f.pcm for f in frames)
        assert pcm == v.pcm[: len(pcm)], "audio in Redis differs from what was recorded"
        return transcript_of(pcm)

    async def check(self, row: Row, outcomes: dict[str, dict[str, Any]]) -> None:
        """Every visit: a note, transcript == dialogue word for word (none lost, doubled or
        out of order); fills the summary row before asserting, so failures show too."""
        problems: list[str] = []
        row.encounters = len(self.recorded)
        async with httpx.AsyncClient(base_url=self.api, timeout=10) as client:
            for v in self.recorded:
                assert v.encounter_id is not None
                want = await self.audio_turns(v) if v.cut_short else v.want
                r = await client.get(f"/v1/encounters/{v.encounter_id}/transcript",
                                     headers=self.auth())  # fmt: skip
                assert r.status_code == 200, r.status_code
                tr = r.json()
                got = [t["original_text"] for t in tr["turns"]]
                row.turns_expected += len(want)
                row.turns_delivered += len(got)
                row.duplicates += sum(max(0, n - want.count(t)) for t, n in Counter(got).items())
                detail = outcomes[v.encounter_id]
                if detail.get("note"):
                    row.notes += 1
                else:
                    problems.append(f"{v.room}: no note (status {detail.get('status')})")
                if got != want:
                    first = next(
                        (i for i, (a, b) in enumerate(zip(got, want, strict=False)) if a != b), None
                    )
                    problems.append(f"{v.room}: transcript differs ({len(got)} vs {len(want)} "
                                    f"turns, first difference at turn {first})")  # fmt: skip
                    if os.environ.get("CHAOS_DEBUG"):
                        print("GOT ", got, "\nWANT", want)
                if [t["seq"] for t in tr["turns"]] != list(range(len(got))):
                    problems.append(f"{v.room}: seqs not 0..n-1")
        assert not problems, problems

    def assert_no_phi_in_logs(self, extra: list[Path] = ()) -> None:  # type: ignore[assignment]
        """No dialogue sentence appears in any log file the run wrote."""
        self.logs.close()
        files = sorted(self.logdir.glob("*.log")) + list(extra)
        assert files
        texts = {
            normalize_text(t.text)
            for v in self.visits
            for t in v.dialogue.turns
            if len(t.text) >= PHI_MIN_CHARS
        }
        leaks = []
        for path in files:
            content = path.read_text(encoding="utf-8", errors="replace")
            squashed = re.sub(r"\s+", " ", content)
            for text in texts:
                if text in content or text in squashed:
                    leaks.append(path.name)
                    break
        assert not leaks, f"transcript text found in logs: {leaks}"
