"""Ports and readiness probes the supervisor waits on before it goes on."""

from __future__ import annotations

import asyncio
import socket
import time

import httpx

from shared.errors import MedscribeError


class NotReady(MedscribeError):
    """A service did not come up (the message: its name, port, exit code or timeout)."""


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def port_is_free(host: str, port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
        return True


async def wait_tcp(
    name: str, host: str, port: int, timeout: float, alive: asyncio.subprocess.Process | None
) -> None:
    """Wait until ``host:port`` accepts connections (raises NotReady naming ``name``)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 1.0)
        except (OSError, TimeoutError):
            if alive is not None and alive.returncode is not None:
                raise NotReady(f"{name} exited with code {alive.returncode}") from None
            await asyncio.sleep(0.1)
            continue
        writer.close()
        return
    raise NotReady(f"{name} did not open port {port} within {timeout:.0f} s")


async def wait_http_ok(
    name: str, url: str, timeout: float, alive: asyncio.subprocess.Process | None
) -> None:
    """Wait until GET ``url`` answers 200 (e.g. a service's /healthz)."""
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(timeout=1.0) as client:
        while time.monotonic() < deadline:
            try:
                if (await client.get(url)).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if alive is not None and alive.returncode is not None:
                raise NotReady(f"{name} exited with code {alive.returncode}")
            await asyncio.sleep(0.2)
    raise NotReady(f"{name} was not healthy within {timeout:.0f} s")
