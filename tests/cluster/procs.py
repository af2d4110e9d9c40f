"""A real Redis Cluster on loopback: 3 primaries + 3 replicas, each a redis-server process.

Short node timeout so a killed primary's replica is promoted in about two seconds.
"""

from __future__ import annotations

import random
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

from tests.helpers.procs import redis_server_binary

NODE_TIMEOUT_MS = 1000


def _bindable(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def cluster_ports(count: int) -> list[int]:
    """Ports whose cluster-bus port (port + 10000) is free too, below the ephemeral range."""
    ports: list[int] = []
    while len(ports) < count:
        p = random.randint(20000, 29999)
        if p not in ports and _bindable(p) and _bindable(p + 10000):
            ports.append(p)
    return ports


def redis_cli_binary() -> str | None:
    server = redis_server_binary()
    if server is None:
        return None
    beside = Path(server).with_name("redis-cli")
    return str(beside) if beside.exists() else shutil.which("redis-cli")


def _command(port: int, *args: str, timeout: float = 2.0) -> bytes:
    """One inline command to a node, its raw reply (enough for INFO/CLUSTER INFO)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall((" ".join(args) + "\r\n").encode())
        data = b""
        s.settimeout(timeout)
        while True:
            chunk = s.recv(65536)
            data += chunk
            if not chunk or _complete(data):
                return data


def _complete(data: bytes) -> bool:
    if data.startswith(b"$"):
        head, _, rest = data.partition(b"\r\n")
        return len(rest) >= int(head[1:]) + 2 if int(head[1:]) >= 0 else True
    return data.endswith(b"\r\n")


class RedisClusterProcs:
    """Six redis-server processes made into one cluster; nodes may be killed and restarted."""

    def __init__(self, workdir: Path, primaries: int = 3) -> None:
        binary, cli = redis_server_binary(), redis_cli_binary()
        if binary is None or cli is None:
            raise RuntimeError("redis-server / redis-cli not found")
        self.binary, self.cli = binary, cli
        self.workdir = workdir
        self.ports = cluster_ports(primaries * 2)
        self.procs: dict[int, subprocess.Popen[bytes]] = {}
        self.frozen: set[int] = set()

    @property
    def url(self) -> str:
        return f"redis+cluster://127.0.0.1:{self.ports[0]}/0"

    def start_node(self, port: int) -> None:
        d = self.workdir / str(port)
        d.mkdir(parents=True, exist_ok=True)
        args = [
            self.binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
            "--appendonly", "no", "--dir", str(d), "--daemonize", "no",
            "--logfile", str(d / "redis.log"), "--cluster-enabled", "yes",
            "--cluster-config-file", str(d / "nodes.conf"),
            "--cluster-node-timeout", str(NODE_TIMEOUT_MS),
        ]  # fmt: skip
        self.procs[port] = subprocess.Popen(
            args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                if _command(port, "PING").startswith(b"+PONG"):
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"redis-server on {port} did not answer PING")

    def start(self) -> None:
        for port in self.ports:
            self.start_node(port)
        create = [self.cli, "--cluster", "create",
                  *(f"127.0.0.1:{p}" for p in self.ports),
                  "--cluster-replicas", "1", "--cluster-yes"]  # fmt: skip
        done = subprocess.run(create, capture_output=True, timeout=60, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"redis-cli --cluster create failed: {done.stdout[-500:]!r}")
        self.wait_ok()

    def wait_ok(self, timeout: float = 30.0) -> None:
        """Until every live node reports cluster_state:ok and agrees on the slot owners."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if all(b"cluster_state:ok" in _command(p, "CLUSTER", "INFO")
                       for p in self.live_ports()):  # fmt: skip
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError("cluster did not reach cluster_state:ok")

    def live_ports(self) -> list[int]:
        """Nodes that run and answer (not killed, not frozen)."""
        return [p for p, proc in self.procs.items() if proc.poll() is None and p not in self.frozen]

    def primary_of(self, key: str) -> int:
        """Port of the primary now serving ``key``'s slot (asked of any live node)."""
        port = self.live_ports()[0]
        slot = int(_command(port, "CLUSTER", "KEYSLOT", key).strip()[1:])
        for p in self.live_ports():
            for line in _command(p, "CLUSTER", "NODES").decode().splitlines():
                parts = line.split()
                if len(parts) > 8 and "myself" in parts[2] and "master" in parts[2]:
                    for rng in parts[8:]:
                        lo, _, hi = rng.partition("-")
                        if lo.isdigit() and int(lo) <= slot <= int(hi or lo):
                            return p
        raise RuntimeError(f"no live primary serves slot {slot}")

    def replica_of(self, primary: int, timeout: float = 10.0) -> int:
        """Port of a live replica of the primary on ``primary`` (a node that just rejoined
        may be flagged failed for a moment: asked again until ``timeout``)."""
        deadline = time.monotonic() + timeout
        while True:
            nodes = _command(primary, "CLUSTER", "NODES").decode()
            me = next(line.split()[0] for line in nodes.splitlines() if "myself" in line)
            for line in nodes.splitlines():
                parts = line.split()
                if len(parts) > 3 and parts[3] == me and "fail" not in parts[2]:
                    return int(parts[1].split("@")[0].rsplit(":", 1)[1])
            if time.monotonic() >= deadline:
                raise RuntimeError(f"no replica of {primary}")
            time.sleep(0.1)

    def repl_offset(self, port: int) -> int:
        """The node's replication offset (a replica: how far it has applied its primary's)."""
        for line in _command(port, "INFO", "replication").decode().splitlines():
            if line.startswith("master_repl_offset:"):
                return int(line.split(":", 1)[1])
        raise RuntimeError("no master_repl_offset in INFO")

    def cut_replication(self, replica: int) -> int:
        """Freeze the replica, then have its primary drop the link: it receives nothing
        until ``thaw``. Returns the primary's offset at the cut: the replica has at most that.

        Killing the link from the replica's side is not enough: it reconnects at once, and
        whatever its primary sends after that waits in the frozen replica's socket buffer
        and is applied on thaw, even after the primary died."""
        primary = self.primary_of_replica(replica)
        self.freeze(replica)
        _command(primary, "CLIENT", "KILL", "TYPE", "replica")
        return self.repl_offset(primary)

    def primary_of_replica(self, replica: int) -> int:
        for line in _command(replica, "INFO", "replication").decode().splitlines():
            if line.startswith("master_port:"):
                return int(line.split(":", 1)[1])
        raise RuntimeError(f"node {replica} is not a replica")

    def freeze(self, port: int) -> None:
        """SIGSTOP: the node neither answers nor notices anything until ``thaw``."""
        self.procs[port].send_signal(signal.SIGSTOP)
        self.frozen.add(port)

    def thaw(self, port: int) -> None:
        self.procs[port].send_signal(signal.SIGCONT)
        self.frozen.discard(port)

    def role(self, port: int) -> str:
        """``master`` or ``slave``, as the node itself says."""
        for line in _command(port, "INFO", "replication").decode().splitlines():
            if line.startswith("role:"):
                return line.split(":", 1)[1].strip()
        raise RuntimeError("no role in INFO")

    def wait_role(self, port: int, role: str, timeout: float = 30.0) -> None:
        """Until the node on ``port`` says it is ``master`` or ``slave``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if self.role(port) == role:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"node {port} did not become {role}")

    def heal(self, timeout: float = 60.0) -> None:
        """Back to three primaries with one replica each: frozen nodes thawed, killed nodes
        started again (their nodes.conf makes them rejoin, as replicas of whoever took
        their slots), and every replica's link up. The session's cluster between tests."""
        for port in list(self.frozen):
            self.thaw(port)
        for port, proc in list(self.procs.items()):
            if proc.poll() is not None:
                self.start_node(port)
        self.wait_ok(timeout)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if self._replicas_linked():
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError("the cluster's replicas did not link up again")

    def _replicas_linked(self) -> bool:
        primaries = replicas = 0
        for port in self.live_ports():
            info = _command(port, "INFO", "replication").decode()
            if "role:master" in info:
                primaries += 1
            elif "master_link_status:up" in info and "master_sync_in_progress:0" in info:
                replicas += 1
        return primaries == len(self.procs) // 2 and replicas == len(self.procs) // 2

    def kill(self, port: int) -> None:
        proc = self.procs[port]
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)

    def wait_promoted(self, killed: int, key: str, timeout: float = 30.0) -> int:
        """Until a live primary other than ``killed`` (or frozen) serves ``key``'s slot;
        its port."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                port = self.primary_of(key)
                if port != killed:
                    self.wait_ok(timeout=max(1.0, deadline - time.monotonic()))
                    return port
            except (OSError, RuntimeError):
                pass
            time.sleep(0.1)
        raise RuntimeError("no replica was promoted")

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs.values():
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
