"""A simulated clinic-month through the real stack (issue 18's long-run proof).

`python -m bench.clinic_month --visits 1000 --rooms 20 --scale 6`

Redis with AOF (a private redis-server), PostgreSQL (a fresh database) or SQLite, both
simulators, two bridges, two editors and notes under the project's Supervisor, and `rooms`
capture agents recording tone-coded ACI-Bench dialogues back to back; now and then a random
service is killed -9 (the supervisor restarts it, as `medscribe up` does). Every few seconds
it samples Redis used_memory and key count, each service's RSS and open file descriptors,
and the database size; at the end it checks every visit (a note; transcript == dialogue,
turn for turn) and the bounds:

- Redis used_memory after the last visit within 10 MB of its value before the first;
- no service's RSS grows by more than 20 % after warm-up (within one process lifetime:
  a killed service starts afresh);
- no service's open-fd count keeps growing after warm-up (through its whole lifetime);

and prints the database growth per visit. Figures go to a JSON file, the plot to a PNG.
`run_month()` is also what the short test (tests/lifecycle) calls with 30 visits.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx

from shared.acibench import Dialogue, default_path, load_dialogues
from shared.contracts import StreamNames
from tests.chaos.harness import ChaosStack, Visit
from tests.helpers.procs import RedisServer

SERVICES = ("bridge-1", "bridge-2", "editor-1", "editor-2", "notes")
WARMUP_SHARE = 0.25  # of a process lifetime, before its RSS/fd baseline is taken
MONTH_ENV = {
    # Production-like lifecycle, compressed: visits leave Redis seconds after they are done.
    "MEDSCRIBE_REDIS_RELEASE_DELAY_S": "5",
    "MEDSCRIBE_REDIS_RELEASE_EVERY_S": "2",
    "MEDSCRIBE_STREAM_TRIM_EVERY_S": "5",
    "MEDSCRIBE_GRACE_PERIOD_S": "20",
}


@dataclass
class Sample:
    t: float
    redis_used: int
    redis_keys: int
    db_bytes: int
    rss: dict[str, int] = field(default_factory=dict)  # service -> bytes
    fds: dict[str, int] = field(default_factory=dict)
    pids: dict[str, int] = field(default_factory=dict)


@dataclass
class MonthResult:
    visits: int
    rooms: int
    scale: float
    seconds: float
    kills: list[tuple[float, str]]
    problems: list[str]
    redis_start: int
    redis_end: int
    rss_growth: dict[str, float]
    fd_growth: dict[str, int]
    db_start: int
    db_end: int
    samples: list[Sample]
    # Visits whose capture agent exited with audio left in its spool (Redis writes could
    # not keep up before its drain deadline) and whose spool the agent's next start sent.
    flushed: list[str] = field(default_factory=list)

    @property
    def db_bytes_per_visit(self) -> float:
        return (self.db_end - self.db_start) / max(1, self.visits)

    def bounds(self) -> list[str]:
        """The pass conditions that failed (empty: passed)."""
        out = list(self.problems)
        drift = self.redis_end - self.redis_start
        if drift > 10 * 1024 * 1024:
            out.append(f"Redis used_memory grew by {drift / 1e6:.1f} MB (bound 10 MB)")
        for name, g in self.rss_growth.items():
            if g > 0.20:
                out.append(f"{name} RSS grew {g:.0%} after warm-up (bound 20%)")
        for name, g in self.fd_growth.items():
            if g > 0:
                out.append(f"{name} open fds grew by {g} after warm-up")
        return out


def _proc_rss_fds(pid: int) -> tuple[int, int] | None:
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as fh:
            rss = next(int(line.split()[1]) * 1024 for line in fh if line.startswith("VmRSS:"))
        fds = len(os.listdir(f"/proc/{pid}/fd"))
    except (OSError, StopIteration, ValueError):
        return None
    return rss, fds


async def _db_bytes(database_url: str) -> int:
    if database_url.startswith("sqlite"):
        path = Path(database_url.split("///", 1)[1])
        return sum(p.stat().st_size for p in path.parent.glob(path.name + "*") if p.exists())
    import asyncpg

    conn = await asyncpg.connect(database_url.replace("+asyncpg", ""))
    try:
        return int(await conn.fetchval("SELECT pg_database_size(current_database())"))
    finally:
        await conn.close()


async def _sample(s: ChaosStack, database_url: str, t0: float) -> Sample:
    info = await s.redis.info("memory")
    out = Sample(
        t=time.monotonic() - t0,
        redis_used=int(info["used_memory"]),
        redis_keys=int(await s.redis.dbsize()),
        db_bytes=await _db_bytes(database_url),
    )
    for name in SERVICES:
        svc = s.sup.get(name)
        if svc.running and svc.pid:
            got = _proc_rss_fds(svc.pid)
            if got is not None:
                out.rss[name], out.fds[name] = got
                out.pids[name] = svc.pid
    return out


def _lifetimes(samples: list[Sample], name: str) -> list[list[Sample]]:
    """The samples of each process lifetime of a service (a kill starts a new one)."""
    runs: list[list[Sample]] = []
    last_pid: int | None = None
    for smp in samples:
        pid = smp.pids.get(name)
        if pid is None:
            continue
        if pid != last_pid:
            runs.append([])
            last_pid = pid
        runs[-1].append(smp)
    return runs


def _warmed_up(run: list[Sample], name: str) -> int:
    """Index where a lifetime's warm-up ends: after ``WARMUP_SHARE`` of it, and not before
    its RSS first reached 80 % of the highest RSS of its first half. On a loaded machine a
    restarted editor or notes spends tens of seconds importing spaCy; a baseline taken
    inside that ramp read as growth (+67 %, +44 % in runs with flat RSS afterwards)."""
    start = int(len(run) * WARMUP_SHARE)
    plateau = 0.8 * max(x.rss[name] for x in run[: len(run) // 2 + 1])
    ramp_end = next((i for i, x in enumerate(run) if x.rss[name] >= plateau), start)
    return min(max(start, ramp_end), len(run) - 10)


def growth(samples: list[Sample], name: str) -> tuple[float, int]:
    """RSS growth (share) and fd growth (count) within the longest lifetime, after warm-up."""
    runs = [r for r in _lifetimes(samples, name) if len(r) >= 12]
    if not runs:
        return 0.0, 0
    run = max(runs, key=len)
    start = _warmed_up(run, name)
    base, end = run[start : start + 5], run[-5:]
    rss0 = statistics.median(x.rss[name] for x in base)
    rss1 = statistics.median(x.rss[name] for x in end)
    return (rss1 - rss0) / rss0, fd_growth(run[int(len(run) * WARMUP_SHARE) :], name)


def fd_growth(run: list[Sample], name: str) -> int:
    """Open fds gained in *both* steps between a lifetime's post-warm-up thirds: the smaller
    of the two rises of the thirds' medians, in whole fds. A leak is tied to work, so it
    climbs through the whole lifetime and shows in both steps; a connection pool that opens
    one more socket when load peaks (an editor's gateway pool under a backlog; "+1" against
    the old window rule failed a CI run at load 10) climbs once, and one of the two steps is
    not above 0. Medians, not extremes: sockets opening and closing move a count by a few
    either way. (From the plain warm-up share: some connections open only once work comes.)"""
    third = len(run) // 3
    if third < 2:
        return 0
    first, middle, last = run[:third], run[third : 2 * third], run[2 * third :]
    m0, m1, m2 = (statistics.median(x.fds[name] for x in part) for part in (first, middle, last))
    return int(min(m1 - m0, m2 - m1))


async def _encounter_of(client: httpx.AsyncClient, s: ChaosStack, room: str) -> str | None:
    r = await client.get("/v1/encounters", params={"room": room}, headers=s.auth())
    if r.status_code != 200:
        return None
    items = r.json().get("items", [])
    return str(items[0]["id"]) if items else None


async def _check_visit(s: ChaosStack, v: Visit, timeout: float) -> str | None:
    """None when the visit ended with a note and its transcript equals the dialogue.

    A note may be written before the visit's last turns arrived (the grace period ran out
    on a loaded machine: the note is flagged for review and the late turns are still
    stored), so a transcript shorter than the dialogue is looked at again until the
    deadline; one as long as the dialogue that differs from it is a failure at once."""
    deadline = time.monotonic() + timeout
    short = ""
    async with httpx.AsyncClient(base_url=s.api, timeout=10) as client:
        while time.monotonic() < deadline:
            try:
                v.encounter_id = v.encounter_id or await _encounter_of(client, s, v.room)
                if v.encounter_id:
                    r = await client.get(f"/v1/encounters/{v.encounter_id}", headers=s.auth())
                    body = r.json() if r.status_code == 200 else {}
                    if body.get("note"):
                        tr = await client.get(
                            f"/v1/encounters/{v.encounter_id}/transcript", headers=s.auth()
                        )
                        got = [t["original_text"] for t in tr.json()["turns"]]
                        if got == v.want:
                            return None
                        short = f"{v.room}: transcript differs ({len(got)} vs {len(v.want)})"
                        if len(got) >= len(v.want):
                            return short
                    if body.get("status") == "failed":
                        return f"{v.room}: failed ({body.get('failure_reason')})"
            except (httpx.HTTPError, ValueError):
                pass  # notes is being restarted
            await asyncio.sleep(1.0)
    return short or f"{v.room}: no note within {timeout:.0f} s"


async def run_month(
    workdir: Path,
    database_url: str,
    dialogues: list[Dialogue],
    *,
    visits: int,
    rooms: int,
    scale: float,
    kill_every_s: float,
    seed: int,
    sample_every_s: float = 2.0,
    stop_starting_after_s: float | None = None,
    log: Any = print,
) -> MonthResult:
    """``stop_starting_after_s``: a time box; after it no room starts another visit, the
    visits in flight finish and the figures are of the visits done (``visits`` then says
    how many)."""
    rng = random.Random(seed)
    redis = RedisServer(workdir / "redis", appendonly=True)
    redis.start()
    names = StreamNames("ms:")
    s = ChaosStack(workdir, redis.url, names, database_url, bridges=2, editors=2, scale=scale,
                   extra_env=MONTH_ENV)  # fmt: skip
    samples: list[Sample] = []
    kills: list[tuple[float, str]] = []
    problems: list[str] = []
    flushed: list[str] = []
    queue = list(range(visits))
    done = asyncio.Event()
    t0 = time.monotonic()
    stop_at = t0 + stop_starting_after_s if stop_starting_after_s else float("inf")
    try:
        async with s:
            await asyncio.sleep(3)  # services settle
            samples.append(await _sample(s, database_url, t0))
            redis_start, db_start = samples[0].redis_used, samples[0].db_bytes
            finished = 0

            async def room(r: int) -> None:
                nonlocal finished
                while queue and time.monotonic() < stop_at:
                    n = queue.pop(0)
                    d = dialogues[n % len(dialogues)]
                    v = s.visit(d, f"r{r:02d}-v{n:04d}")
                    await s.play(v)
                    code = await s.finish(v, timeout=3600)
                    if code != 0 and v.spool.is_dir() and any(v.spool.iterdir()):
                        # What the room's next `medscribe capture` start does first.
                        flushed.append(v.room)
                        code = await s.flush_capture(v)
                    if code != 0:
                        problems.append(f"{v.room}: capture exited {code}")
                    problem = await _check_visit(s, v, timeout=600)
                    if problem:
                        problems.append(problem)
                    v.wav.unlink(missing_ok=True)
                    finished += 1
                    if finished % 50 == 0:
                        log(f"{finished}/{visits} visits, {len(problems)} problems, "
                            f"Redis {samples[-1].redis_used / 1e6:.1f} MB")  # fmt: skip

            async def sampler() -> None:
                while not done.is_set():
                    samples.append(await _sample(s, database_url, t0))
                    try:
                        await asyncio.wait_for(done.wait(), sample_every_s)
                    except TimeoutError:
                        pass

            async def monkey() -> None:
                while not done.is_set():
                    try:
                        await asyncio.wait_for(done.wait(), rng.expovariate(1 / kill_every_s))
                        return
                    except TimeoutError:
                        pass
                    name = rng.choice(SERVICES)
                    if s.sup.get(name).running:
                        s.kill(name)
                        kills.append((time.monotonic() - t0, name))

            bg = [asyncio.create_task(sampler()), asyncio.create_task(monkey())]
            await asyncio.gather(*(room(r) for r in range(rooms)))
            # Let the last visits leave Redis (release delay + trim), then the final figure.
            await asyncio.sleep(30)
            done.set()
            await asyncio.gather(*bg)
            end = await _sample(s, database_url, t0)
            samples.append(end)
            problems += [f"unplanned exit of {e.name} ({e.code})" for e in s.unexpected_exits()]
    finally:
        redis.stop()
    rss_growth, fd_growth = {}, {}
    for name in SERVICES:
        rss_growth[name], fd_growth[name] = growth(samples, name)
    if finished < visits:
        log(f"time box reached: {finished} of {visits} visits ran")
    return MonthResult(
        visits=finished, rooms=rooms, scale=scale, seconds=time.monotonic() - t0, kills=kills,
        problems=problems, redis_start=redis_start, redis_end=end.redis_used,
        rss_growth=rss_growth, fd_growth=fd_growth, db_start=db_start, db_end=end.db_bytes,
        samples=samples, flushed=flushed,
    )  # fmt: skip


def plot(result: MonthResult, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = [x.t / 60 for x in result.samples]
    fig, ax = plt.subplots(2, 2, figsize=(12, 8), sharex=True)
    ax[0][0].plot(t, [x.redis_used / 1e6 for x in result.samples], label="used_memory (MB)")
    ax[0][0].set_title("Redis used_memory (MB)")
    ax2 = ax[0][0].twinx()
    ax2.plot(t, [x.redis_keys for x in result.samples], color="grey", alpha=0.5)
    ax2.set_ylabel("keys")
    for name in SERVICES:
        ax[0][1].plot(t, [x.rss.get(name, float("nan")) / 1e6 for x in result.samples], label=name)
        ax[1][0].plot(t, [x.fds.get(name, float("nan")) for x in result.samples], label=name)
    ax[0][1].set_title("service RSS (MB); a kill restarts a process")
    ax[0][1].legend(fontsize=7)
    ax[1][0].set_title("open file descriptors")
    ax[1][1].plot(t, [x.db_bytes / 1e6 for x in result.samples])
    ax[1][1].set_title("database size (MB)")
    for a in (ax[1][0], ax[1][1]):
        a.set_xlabel("minutes")
    for k_t, _name in result.kills:
        for a in ax.flat:
            a.axvline(k_t / 60, color="red", alpha=0.15, lw=0.8)
    fig.suptitle(
        f"clinic-month: {result.visits} visits, {result.rooms} rooms, x{result.scale:g} time, "
        f"{len(result.kills)} kills (red lines)"
    )
    fig.tight_layout()
    fig.savefig(path, dpi=90)


def summary(result: MonthResult) -> str:
    failed = result.bounds()
    drift = result.redis_end - result.redis_start
    lines = [
        f"visits {result.visits}, rooms {result.rooms}, scale x{result.scale:g}, "
        f"{result.seconds / 60:.1f} min, {len(result.kills)} service kills, "
        f"{len(result.flushed)} capture spools sent by the agent's next start",
        f"Redis used_memory start {result.redis_start / 1e6:.2f} MB, end "
        f"{result.redis_end / 1e6:.2f} MB (drift {drift / 1e6:+.2f} MB)",
        "RSS growth after warm-up: "
        + ", ".join(f"{k} {v:+.1%}" for k, v in result.rss_growth.items()),
        "fd growth after warm-up: " + ", ".join(f"{k} {v:+d}" for k, v in result.fd_growth.items()),
        f"database {result.db_start / 1e6:.1f} → {result.db_end / 1e6:.1f} MB, "
        f"{result.db_bytes_per_visit / 1024:.1f} KiB per visit",
        "PASS" if not failed else "FAIL: " + "; ".join(failed[:10]),
    ]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--visits", type=int, default=1000)
    ap.add_argument("--rooms", type=int, default=20)
    ap.add_argument("--scale", type=float, default=6.0)
    ap.add_argument("--kill-every-s", type=float, default=90.0)
    ap.add_argument("--seed", type=int, default=int(time.time()))
    ap.add_argument("--database-url", default="", help="default: SQLite in the work folder")
    ap.add_argument("--out", type=Path, default=Path("bench/results"))
    ap.add_argument("--png", type=Path, default=None)
    ap.add_argument(
        "--stop-starting-after-min",
        type=float,
        default=None,
        help="time box: start no visit after this many minutes; report the visits done",
    )
    args = ap.parse_args()
    dialogues = load_dialogues(Path(os.environ.get("MEDSCRIBE_ACI_BENCH", default_path())))
    work = Path(tempfile.mkdtemp(prefix="clinic-month-"))
    db = args.database_url or f"sqlite+aiosqlite:///{work / 'notes.db'}"
    print(f"clinic-month seed {args.seed}, work folder {work}")
    result = asyncio.run(
        run_month(work, db, dialogues, visits=args.visits, rooms=args.rooms, scale=args.scale,
                  kill_every_s=args.kill_every_s, seed=args.seed,
                  stop_starting_after_s=(args.stop_starting_after_min or 0) * 60 or None)
    )  # fmt: skip
    args.out.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    data = asdict(result) | {"db_bytes_per_visit": result.db_bytes_per_visit,
                             "failed_bounds": result.bounds(), "seed": args.seed}  # fmt: skip
    (args.out / f"clinic-month-{stamp}.json").write_text(json.dumps(data, indent=1))
    png = args.png or args.out / f"clinic-month-{stamp}.png"
    plot(result, png)
    print(summary(result))
    print(f"figures: {args.out / f'clinic-month-{stamp}.json'}, plot: {png}")
    raise SystemExit(0 if not result.bounds() else 1)


if __name__ == "__main__":
    main()
