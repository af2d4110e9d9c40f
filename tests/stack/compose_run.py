"""Drive docker-compose through podman's Docker-compatible API for the stack test: the
API service, the health-check pump (podman has no systemd timers here), exec helpers."""

from __future__ import annotations

import contextlib
import os
import subprocess
import threading
import time
from pathlib import Path

from tests.helpers.procs import REPO_ROOT


class PodmanService:
    """`podman system service` on a private socket; DOCKER_HOST for docker-compose."""

    def __init__(self, sockdir: Path) -> None:
        self.sock = sockdir / "podman.sock"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def docker_host(self) -> str:
        return f"unix://{self.sock}"

    def start(self, timeout: float = 30) -> None:
        self.proc = subprocess.Popen(
            ["podman", "system", "service", "--time=0", self.docker_host],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
        deadline = time.monotonic() + timeout
        while not self.sock.exists():
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise RuntimeError("podman system service did not start")
            time.sleep(0.1)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class HealthPump:
    """Run the health checks of starting containers every second (podman schedules them
    with systemd timers, absent here), so `condition: service_healthy` works."""

    def __init__(self, project: str) -> None:
        self.project = project
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)

    def _loop(self) -> None:
        while not self._stop.wait(2.0):
            done = subprocess.run(
                ["podman", "ps", "--filter", "health=starting", "--filter",
                 f"name={self.project}_", "--format", "{{.Names}}"],
                capture_output=True, text=True, check=False, timeout=30,
            )  # fmt: skip
            for name in done.stdout.split():
                subprocess.run(
                    ["podman", "healthcheck", "run", name],
                    capture_output=True,
                    check=False,
                    timeout=30,
                )


class Compose:
    def __init__(self, project: str, env_file: Path, docker_host: str) -> None:
        self.project = project
        self.env_file = env_file
        self.env = {**os.environ, "DOCKER_HOST": docker_host, "COMPOSE_HTTP_TIMEOUT": "600"}

    def __call__(
        self, *args: str, timeout: float = 900, demo: bool = True
    ) -> subprocess.CompletedProcess[str]:
        """docker-compose as IT runs it: the compose files come from ``COMPOSE_FILE`` in the
        env file (README, Upgrades), never from ``-f``. ``demo=False``: without the demo
        profile, as a clinic's own commands (an upgrade, a password rotation) run."""
        profile = ["--profile", "demo"] if demo else []
        return subprocess.run(
            ["docker-compose", "-p", self.project, "--env-file", str(self.env_file),
             *profile, *args],
            cwd=REPO_ROOT, env=self.env, capture_output=True, text=True, timeout=timeout,
            check=False,
        )  # fmt: skip

    def piped(
        self,
        *args: str,
        stdin: Path | None = None,
        stdout: Path | None = None,
        demo: bool = False,
        timeout: float = 300,
    ) -> subprocess.CompletedProcess[bytes]:
        """docker-compose with a file as stdin or stdout (bytes: dumps and archives), as a
        shell redirect in the README does; ``stdout`` is created owner-only (umask 077)."""
        profile = ["--profile", "demo"] if demo else []
        cmd = ["docker-compose", "-p", self.project, "--env-file", str(self.env_file),
               *profile, *args]  # fmt: skip
        with contextlib.ExitStack() as files:
            src = files.enter_context(stdin.open("rb")) if stdin else subprocess.DEVNULL
            old = os.umask(0o077)
            try:
                dst = files.enter_context(stdout.open("wb")) if stdout else subprocess.PIPE
            finally:
                os.umask(old)
            return subprocess.run(cmd, cwd=REPO_ROOT, env=self.env, stdin=src, stdout=dst,
                                  stderr=subprocess.PIPE, timeout=timeout, check=False)  # fmt: skip

    def container(self, service: str, index: int = 1) -> str:
        return f"{self.project}_{service}_{index}"

    def exec(
        self, service: str, *cmd: str, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:  # noqa: E501
        return subprocess.run(
            ["podman", "exec", self.container(service), *cmd],
            capture_output=True, text=True, timeout=timeout, check=False,
        )  # fmt: skip

    def health(self, service: str, index: int = 1) -> str:
        done = subprocess.run(
            ["podman", "inspect", "--format", "{{.State.Health.Status}}",
             self.container(service, index)],
            capture_output=True, text=True, timeout=30, check=False,
        )  # fmt: skip
        return done.stdout.strip() or "missing"

    def state(self, service: str, index: int = 1) -> tuple[str, int]:
        done = subprocess.run(
            ["podman", "inspect", "--format", "{{.State.Status}} {{.State.ExitCode}}",
             self.container(service, index)],
            capture_output=True, text=True, timeout=30, check=False,
        )  # fmt: skip
        parts = done.stdout.split()
        return (parts[0], int(parts[1])) if len(parts) == 2 else ("missing", -1)

    def diagnose(self) -> str:
        """State, health log and last lines of every container of the project."""
        ps = subprocess.run(
            ["podman", "ps", "-a", "--filter", f"name={self.project}_",
             "--format", "{{.Names}}"],
            capture_output=True, text=True, timeout=30, check=False,
        )  # fmt: skip
        out = []
        for name in ps.stdout.split():
            health = subprocess.run(
                ["podman", "inspect", "--format",
                 "{{.State.Status}} {{.State.ExitCode}} {{json .State.Health}}", name],
                capture_output=True, text=True, timeout=30, check=False,
            )  # fmt: skip
            logs = subprocess.run(
                ["podman", "logs", "--tail", "15", name],
                capture_output=True, text=True, timeout=30, check=False,
            )  # fmt: skip
            out.append(f"== {name}: {health.stdout.strip()[:1500]}\n{logs.stdout}{logs.stderr}")
        return "\n".join(out)

    def dns_report(self, service: str, *names: str) -> str:
        """What a container resolves, its resolver, and aardvark-dns as the host sees it:
        attached to a failure that says the database's host name is not known here (DNS)."""
        looked = self.exec(service, "getent", "hosts", *names, timeout=30)
        conf = self.exec(service, "cat", "/etc/resolv.conf", timeout=30)
        host = subprocess.run(
            ["sh", "-c", "pgrep -a aardvark-dns; for f in /run/containers/networks/aardvark-dns/*; "
             'do echo "== $f"; cat "$f"; done'],
            capture_output=True, text=True, timeout=30, check=False,
        )  # fmt: skip
        return (
            f"getent hosts {' '.join(names)} (exit {looked.returncode}):\n"
            f"{looked.stdout}{looked.stderr}\nresolv.conf:\n{conf.stdout}\n"
            f"host:\n{host.stdout}{host.stderr}"
        )

    def logs(self, service: str, tail: int = 40) -> str:
        done = subprocess.run(
            ["podman", "logs", "--tail", str(tail), self.container(service)],
            capture_output=True, text=True, timeout=30, check=False,
        )  # fmt: skip
        return done.stdout + done.stderr
