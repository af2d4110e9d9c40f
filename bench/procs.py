"""Subprocesses of a benchmark run: simulators, services, all on free ports and a private
stream prefix, stopped with SIGTERM (then SIGKILL) when the run ends."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import IO

REPO_ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def medscribe(*args: str) -> list[str]:
    """`medscribe ...` without needing the package installed."""
    return [sys.executable, "-m", "medscribe.cli", *args]


def module(name: str, *args: str) -> list[str]:
    return [sys.executable, "-m", name, *args]


def base_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO_ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env.update(extra)
    return env


def wait_tcp(port: int, proc: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before listening")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on port {port}")


class Procs:
    """The named subprocesses of one run; logs go to files in `workdir`."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self._logs: list[IO[bytes]] = []

    def start(self, name: str, argv: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        log = open(self.workdir / f"{name}.log", "wb")  # noqa: SIM115 - closed in stop_all
        self._logs.append(log)
        # Its own session: with the kernel's autogroup scheduling (on by default) each
        # session shares the CPU fairly with every other one, as each service's own
        # systemd unit or container would on a server; in one session, the services and
        # the load generators (which a server does not run) split a single share.
        proc = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT,
                                cwd=REPO_ROOT, start_new_session=True)  # fmt: skip
        self.procs[name] = proc
        return proc

    def start_stt_probe(self, emits: Path, env: dict[str, str]) -> str:
        """The instrumented STT simulator; its output goes to a file, never to an unread
        pipe (a full pipe blocks the simulator's writes and with them its event loop)."""
        log_path = self.workdir / "sim-stt.log"
        self.start("sim-stt", module("bench.probe_sim", "--out", str(emits)), env)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            m = re.search(r"(ws://\S+)", log_path.read_text(errors="replace"))
            if m:
                return m.group(1)
            if self.procs["sim-stt"].poll() is not None:
                break
            time.sleep(0.05)
        raise RuntimeError("the STT simulator did not start")

    def start_llm_sim(self, latency_s: float, env: dict[str, str], rpm: int = 0) -> str:
        """The LLM Gateway simulator; ``rpm`` > 0 enforces the gateway's per-model quota
        (429 with Retry-After past ``rpm`` requests in a minute)."""
        port = free_port()
        argv = medscribe("sim", "llm", "--port", str(port), "--latency", str(latency_s),
                         "--key", "bench", "--rpm", str(rpm))  # fmt: skip
        wait_tcp(port, self.start("sim-llm", argv, env))
        return f"http://127.0.0.1:{port}"

    def pids(self, *names: str) -> dict[str, int]:
        return {n: self.procs[n].pid for n in names if n in self.procs}

    def stop(self, *names: str, timeout: float = 20.0) -> None:
        for n in names:
            p = self.procs.get(n)
            if p is not None and p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for n in names:
            p = self.procs.get(n)
            if p is None:
                continue
            try:
                p.wait(timeout)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(5)

    def stop_all(self) -> None:
        self.stop(*reversed(list(self.procs)))
        for log in self._logs:
            log.close()
