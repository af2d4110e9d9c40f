"""A small process manager: start `medscribe` services as child processes, merge their
output into one prefixed view, restart crashed ones with backoff, stop them all cleanly.

Every child runs in its own session (process group), so a stop reaches the processes it
started too, and a Ctrl+C in the terminal reaches only the supervisor, which then stops
the children in reverse start order (SIGTERM, then SIGKILL after a grace period). On Linux
each child also gets PR_SET_PDEATHSIG, so even a supervisor killed with SIGKILL leaves
no service behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, TextIO

import shared
from shared.backoff import exponential
from shared.logging import get_logger
from shared.waiting import sleep_or_stop

log = get_logger(__name__)

PROJECT_ROOT = Path(shared.__file__).resolve().parents[1]
_PR_SET_PDEATHSIG = 1


def medscribe_argv(*args: str) -> list[str]:
    """Command line of a `medscribe` subcommand run by this same interpreter."""
    return [sys.executable, "-m", "medscribe.cli", *args]


def child_env(base: dict[str, str], **extra: str) -> dict[str, str]:
    """``base`` plus ``extra``, with the project importable even when not installed."""
    env = dict(base)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(PROJECT_ROOT), env.get("PYTHONPATH")) if p)
    env["PYTHONUNBUFFERED"] = "1"  # log lines reach the merged view as they happen
    env.update(extra)
    return env


def _die_with_parent() -> None:  # runs in the child between fork and exec
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


@dataclass(frozen=True)
class ServiceSpec:
    name: str
    argv: list[str]
    env: dict[str, str]
    restart: bool = False  # `up`: restart after a crash, with backoff
    cwd: Path | None = None
    # Services of one group started one after another are also stopped together (each
    # still gets SIGTERM and its grace period): none of them needs another of them to
    # stop cleanly, only what was started before them (Redis, the simulators).
    stop_group: str | None = None


async def _spawn(spec: ServiceSpec, *, stderr: int) -> asyncio.subprocess.Process:
    """Start ``spec`` in a process group of its own (signalled as a group), stdin closed,
    stdout piped; it gets SIGTERM when this process dies."""
    return await asyncio.create_subprocess_exec(
        *spec.argv,
        env=spec.env,
        cwd=spec.cwd,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=stderr,
        start_new_session=True,
        preexec_fn=_die_with_parent,
    )


class LogSink(Protocol):
    def line(self, name: str, text: str) -> None: ...


_COLOURS = ("36", "33", "35", "32", "34", "31", "96", "93")


class ConsoleSink:
    """`name | line` on one stream, names aligned and coloured on a terminal."""

    def __init__(self, out: TextIO | None = None, width: int = 12) -> None:
        self.out = out or sys.stdout
        self.width = width
        self.colour = self.out.isatty()
        self._colours: dict[str, str] = {}

    def line(self, name: str, text: str) -> None:
        tag = name.ljust(self.width)
        if self.colour:
            code = self._colours.setdefault(name, _COLOURS[len(self._colours) % len(_COLOURS)])
            tag = f"\x1b[{code}m{tag}\x1b[0m"
        self.out.write(f"{tag} | {text}\n")
        self.out.flush()


class FileSink:
    """One log file per service under ``folder`` (the demo keeps its terminal for the
    live view); ``echo`` optionally sees every line too."""

    def __init__(self, folder: Path, echo: LogSink | None = None) -> None:
        self.folder = folder
        self.echo = echo
        folder.mkdir(parents=True, exist_ok=True)
        self._files: dict[str, TextIO] = {}

    @classmethod
    def shown_when(cls, verbose: bool, folder: Path, out: TextIO | None = None) -> FileSink:
        """Log files under ``folder``; with ``verbose`` every line is also shown on ``out``."""
        return cls(folder, echo=ConsoleSink(out) if verbose else None)

    def path(self, name: str) -> Path:
        return self.folder / f"{name}.log"

    def line(self, name: str, text: str) -> None:
        f = self._files.get(name)
        if f is None:
            f = self._files[name] = self.path(name).open("a", encoding="utf-8")
        f.write(text + "\n")
        f.flush()
        if self.echo is not None:
            self.echo.line(name, text)

    def tail(self, name: str, lines: int = 15) -> list[str]:
        try:
            return self.path(name).read_text(encoding="utf-8").splitlines()[-lines:]
        except OSError:
            return []

    def close(self) -> None:
        for f in self._files.values():
            f.close()
        self._files.clear()


@dataclass
class Backoff:
    initial_s: float = 1.0
    max_s: float = 30.0
    reset_after_s: float = 60.0

    def delay(self, restarts: int) -> float:
        """Wait before restart number ``restarts`` (1, 2, ...): doubling, capped."""
        return exponential(max(0, restarts - 1), self.initial_s, self.max_s)


@dataclass
class Service:
    spec: ServiceSpec
    proc: asyncio.subprocess.Process | None = None
    restarts: int = 0
    exit_code: int | None = None
    started_at: float = 0.0
    task: asyncio.Task[None] | None = field(default=None, repr=False)

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.returncode is None


class Supervisor:
    """Runs services until :meth:`stop`; ``failed`` is set when a service that must not
    be restarted exits on its own (the demo then stops and says which one)."""

    def __init__(
        self, sink: LogSink, backoff: Backoff | None = None, stop_timeout_s: float = 10.0
    ) -> None:
        self.sink = sink
        self.backoff = backoff or Backoff()
        self.stop_timeout_s = stop_timeout_s
        self.services: list[Service] = []
        self.failed = asyncio.Event()
        self.failed_service: Service | None = None
        self._stopping = asyncio.Event()
        self.on_exit: Callable[[Service], None] | None = None

    def get(self, name: str) -> Service:
        return next(s for s in self.services if s.spec.name == name)

    async def start(self, spec: ServiceSpec) -> Service:
        svc = Service(spec)
        self.services.append(svc)
        await self._launch(svc)
        svc.task = asyncio.create_task(self._watch(svc), name=f"watch-{spec.name}")
        return svc

    async def run_once(self, spec: ServiceSpec, timeout: float = 120.0) -> tuple[int, str]:
        """Run a one-shot command (migrations, token creation) to completion; returns
        its exit code and stdout. stderr goes to the log view."""
        proc = await _spawn(spec, stderr=asyncio.subprocess.PIPE)
        try:
            out, err = await asyncio.wait_for(proc.communicate(), timeout)
        except TimeoutError:
            _signal_group(proc.pid, signal.SIGKILL)
            await proc.wait()
            return -9, ""
        except asyncio.CancelledError:  # the caller gave up (e.g. Ctrl+C): leave no process
            _signal_group(proc.pid, signal.SIGKILL)
            await asyncio.shield(proc.wait())
            raise
        for text in err.decode("utf-8", "replace").splitlines():
            self.sink.line(spec.name, text)
        return int(proc.returncode or 0), out.decode("utf-8", "replace")

    async def _launch(self, svc: Service) -> None:
        spec = svc.spec
        svc.proc = await _spawn(spec, stderr=asyncio.subprocess.STDOUT)
        svc.started_at = time.monotonic()
        svc.exit_code = None
        log.info("service_started", name=spec.name, pid=svc.proc.pid, attempt=svc.restarts)

    async def _pump(self, svc: Service) -> None:
        assert svc.proc is not None
        assert svc.proc.stdout is not None
        while True:
            raw = await svc.proc.stdout.readline()
            if not raw:
                return
            self.sink.line(svc.spec.name, raw.decode("utf-8", "replace").rstrip("\r\n"))

    async def _watch(self, svc: Service) -> None:
        while True:
            assert svc.proc is not None
            pump = asyncio.create_task(self._pump(svc))
            code = await svc.proc.wait()
            svc.exit_code = code
            _signal_group(svc.proc.pid, signal.SIGKILL)  # anything it left behind
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(pump, 5.0)  # the rest of its output
            if self._stopping.is_set():
                return
            if self.on_exit is not None:
                self.on_exit(svc)
            if not svc.spec.restart:
                log.warning("service_exited", name=svc.spec.name, code=code)
                if self.failed_service is None:
                    self.failed_service = svc
                self.failed.set()
                return
            if time.monotonic() - svc.started_at >= self.backoff.reset_after_s:
                svc.restarts = 0
            svc.restarts += 1
            delay = self.backoff.delay(svc.restarts)
            log.warning(
                "service_crashed", name=svc.spec.name, code=code, attempt=svc.restarts,
                retry_in_s=delay,
            )  # fmt: skip
            if await sleep_or_stop(self._stopping, delay):
                return
            await self._launch(svc)

    async def stop(self) -> None:
        """Stop every service, newest first: SIGTERM, then SIGKILL after the grace period.
        Consecutive services of one ``stop_group`` are stopped at the same time."""
        self._stopping.set()
        batch: list[Service] = []
        for svc in reversed(self.services):
            group = svc.spec.stop_group
            if batch and (group is None or group != batch[-1].spec.stop_group):
                await asyncio.gather(*(self._stop_one(s) for s in batch))
                batch = []
            batch.append(svc)
        await asyncio.gather(*(self._stop_one(s) for s in batch))
        for svc in self.services:
            if svc.task is not None:
                with contextlib.suppress(asyncio.CancelledError):
                    await svc.task

    async def _stop_one(self, svc: Service) -> None:
        proc = svc.proc
        if proc is None:
            return
        if proc.returncode is None:
            _signal_group(proc.pid, signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), self.stop_timeout_s)
            except TimeoutError:
                log.warning("service_killed", name=svc.spec.name, pid=proc.pid)
                _signal_group(proc.pid, signal.SIGKILL)
                await proc.wait()
            log.info("service_stopped", name=svc.spec.name, code=proc.returncode)
        _signal_group(proc.pid, signal.SIGKILL)


def _signal_group(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)
