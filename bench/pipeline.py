"""One run of the whole pipeline: simulators, stt-bridge, editor and notes as subprocesses,
N rooms played in real time, and the figures of issue 12 computed from what arrived.

Turn overhead = (edited turn reaches a live-view reader) - (STT simulator sent the final)
- gateway latency (the LLM simulator's fixed latency; no jitter is configured, so that is
the gateway's own time per request). Note overhead = (note stored, `encounters.note_at`)
- (capture published EncounterStopped) - gateway latency (the SOAP request).
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.analysis import load_emits, partial_delays, sessions_of, turn_delays
from bench.feeder import encounter_id, room_script
from bench.observer import Arrivals, observe
from bench.procs import Procs, base_env, medscribe, module
from bench.stats import ProcWatch, summary
from shared.contracts import StreamNames
from shared.streams import make_redis

SERVICES = ("stt-bridge", "editor", "notes")


@dataclass
class PipelineConfig:
    rooms: int
    seconds: float
    latency_s: float
    redis_url: str
    editor_workers: int = 2
    scheduler_poll_s: float | None = None  # None = the product default
    profile: bool = False  # run the bridge under pyinstrument
    # issue 22 point 5: the gateway's quota (simulator 429s) and the editor's limiter both at
    # this many requests per minute per model; 0 = both off, as in the speed figures
    rpm: int = 0
    pause_ms: int = 1200  # silence after each turn: longer = the speech density of real visits
    spread_s: float = 2.0  # rooms start over this long
    extra_env: dict[str, str] = field(default_factory=dict)  # more service settings


def _note_times(db: Path) -> dict[str, float]:
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT id, note_at FROM encounters WHERE note_at IS NOT NULL")
        out: dict[str, float] = {}
        for eid, at in rows:
            ts = datetime.fromisoformat(str(at))
            out[eid] = (ts if ts.tzinfo else ts.replace(tzinfo=UTC)).timestamp()
        return out


async def _cleanup(redis: Any, prefix: str) -> None:
    keys = [k async for k in redis.scan_iter(match=f"{prefix}*", count=1000)]
    for i in range(0, len(keys), 500):
        await redis.delete(*keys[i : i + 500])


async def run_pipeline(cfg: PipelineConfig, workdir: Path | None = None) -> dict[str, Any]:
    work = workdir or Path(tempfile.mkdtemp(prefix="medscribe-bench-"))
    prefix = f"bench{uuid.uuid4().hex[:8]}:"
    names = StreamNames(prefix)
    eids = [encounter_id(i) for i in range(cfg.rooms)]
    expected = sum(len(room_script(i, cfg.seconds, cfg.pause_ms)) for i in range(cfg.rooms))
    db = work / "notes.db"
    procs = Procs(work)
    redis = make_redis(cfg.redis_url)
    arrivals, stop_obs = Arrivals(), asyncio.Event()
    try:
        env = base_env(MEDSCRIBE_LOG_LEVEL="WARNING")
        stt_url = procs.start_stt_probe(work / "emits.jsonl", env)
        llm_url = procs.start_llm_sim(cfg.latency_s, env, rpm=cfg.rpm)
        env = base_env(
            MEDSCRIBE_REDIS_URL=cfg.redis_url, MEDSCRIBE_STREAM_PREFIX=prefix,
            ASSEMBLYAI_API_KEY="bench", MEDSCRIBE_STREAMING_URL=stt_url,
            MEDSCRIBE_LLM_GATEWAY_URL=llm_url, MEDSCRIBE_DATABASE_URL=f"sqlite+aiosqlite:///{db}",
            MEDSCRIBE_EXPORT_DIR=str(work / "exports"), MEDSCRIBE_RPM_PER_MODEL=str(cfg.rpm),
            MEDSCRIBE_LOG_LEVEL="WARNING", MEDSCRIBE_LOG_FORMAT="json",
            MEDSCRIBE_WORKERS=str(cfg.editor_workers), MEDSCRIBE_HEALTH_PORT="0",
            MEDSCRIBE_GRACE_PERIOD_S="30",
        )  # fmt: skip
        env.update(cfg.extra_env)
        if cfg.scheduler_poll_s is not None:
            env["MEDSCRIBE_SCHEDULER_POLL_S"] = str(cfg.scheduler_poll_s)
        bridge = module("bench.bridge_proc", "--out", str(work / "lag.json"))
        if cfg.profile:
            bridge = [bridge[0], "-m", "pyinstrument", "-r", "text", "-o",
                      str(work / "bridge-profile.txt"), "-m", *bridge[2:]]  # fmt: skip
        procs.start("stt-bridge", bridge, env)
        procs.start("editor", medscribe("editor"), env)
        procs.start("notes", medscribe("notes", "run", "--no-api", "--migrate"), env)
        await asyncio.sleep(3.0)  # imports, migrations, consumer groups
        for n in SERVICES:
            if procs.procs[n].poll() is not None:
                raise RuntimeError(f"{n} exited early; see {work / (n + '.log')}")
        watch = ProcWatch(procs.pids(*SERVICES, "sim-stt", "sim-llm"))
        obs = asyncio.create_task(observe(redis, names, eids, stop_obs, arrivals))
        feeder = await asyncio.create_subprocess_exec(
            *module("bench.feeder", "--redis", cfg.redis_url, "--prefix", prefix, "--rooms",
                    str(cfg.rooms), "--seconds", str(cfg.seconds), "--out",
                    str(work / "stopped.json"), "--pause-ms", str(cfg.pause_ms),
                    "--spread-s", str(cfg.spread_s)),
            env=env,
        )  # fmt: skip
        watch.pids["feeder"] = feeder.pid  # the load generator's cost, for the record
        watch.start()
        load = [os.getloadavg()[0]]  # other work on the machine shares its cores
        while feeder.returncode is None:
            watch.sample()
            try:
                await asyncio.wait_for(feeder.wait(), 1.0)
            except TimeoutError:
                pass
        # under a quota a turn may wait up to the editor's queue deadline (120 s) for its edit
        deadline = time.monotonic() + 30 + 3 * cfg.latency_s + (150 if cfg.rpm else 0)
        notes: dict[str, float] = {}
        while time.monotonic() < deadline:
            watch.sample()
            notes = _note_times(db) if db.exists() else {}
            if len(notes) >= cfg.rooms and len(arrivals.edited) >= expected:
                break
            await asyncio.sleep(0.25)
        usage = watch.stop()
        load.append(os.getloadavg()[0])
        stop_obs.set()
        await obs
        procs.stop(*SERVICES)
    finally:
        procs.stop_all()
        await _cleanup(redis, prefix)
        await redis.aclose()
    emits = load_emits(work / "emits.jsonl")
    edited = [(s, o, t) for _, s, o, t in arrivals.edited]
    overhead = [d - cfg.latency_s for d in turn_delays(emits, edited)]
    sessions = sessions_of(arrivals.edited)
    shown = partial_delays(emits, arrivals.partials, sessions)
    shown_busy = partial_delays(emits, arrivals.partials, sessions, in_flight_s=cfg.latency_s)
    stopped = json.loads((work / "stopped.json").read_text())
    note = [notes[e] - stopped[e] - cfg.latency_s for e in eids if e in notes and e in stopped]
    # The last turn is only final once the stop flushed it, and its edit is a gateway call
    # too: the notes service's own share starts when both the stop and that edit are in.
    last_edit: dict[str, float] = {}
    for eid, _, _, t in arrivals.edited:
        last_edit[eid] = max(t, last_edit.get(eid, 0.0))
    note_own = [
        notes[e] - max(stopped[e], last_edit.get(e, 0.0)) - cfg.latency_s
        for e in eids
        if e in notes and e in stopped
    ]
    lag = json.loads((work / "lag.json").read_text()) if (work / "lag.json").exists() else []
    loop_file = work / "lag.json.loop"
    loop_lag = json.loads(loop_file.read_text()) if loop_file.exists() else []
    return {
        "rooms": cfg.rooms, "seconds": cfg.seconds, "gateway_latency_s": cfg.latency_s,
        "turns_expected": expected, "turns_edited": len({(s, o) for s, o, _ in edited}),
        "turns_fallback": len(arrivals.fallback), "rpm_per_model": cfg.rpm,
        "pause_ms": cfg.pause_ms, "turns_per_room_min": expected / cfg.rooms / (cfg.seconds / 60),
        "notes_stored": len(notes),
        "turn_overhead": summary(overhead), "partial_delay": summary(shown),
        "partial_delay_edit_in_flight": summary(shown_busy),
        "turn_to_edited": summary([d + cfg.latency_s for d in overhead]),
        "frame_lag": summary(lag), "bridge_loop_lag": summary(loop_lag),
        "note_overhead": summary(note),
        "note_overhead_after_last_edit": summary(note_own),
        "processes": usage, "loadavg_1m": load, "workdir": str(work),
    }  # fmt: skip
