"""The real client behind a trusted reverse proxy (``trusted_proxies``).

``X-Forwarded-For`` and ``X-Forwarded-Proto`` are believed only when the connection comes
from a configured proxy address; from anyone else they are ignored (a client could
otherwise write any address into the audit log). uvicorn's own proxy handling is off so
that this is the one place that decides.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import socket
from collections.abc import Callable, Sequence

from services.notes.config import Network, split_entries
from shared.waiting import sleep_or_stop


def parse_networks(text: str) -> tuple[Network, ...]:
    """The address and network entries of ``text`` (host names: see ``keep_resolved``)."""
    return split_entries(text)[0]


RESOLVE_EVERY_S = 15.0


async def resolve(names: Sequence[str]) -> tuple[Network, ...]:
    """Each name's current addresses as single-address networks; a name that does not
    resolve (its container not started yet) adds nothing: nobody is trusted for it."""
    loop = asyncio.get_running_loop()
    found: set[Network] = set()
    for name in names:
        try:
            infos = await loop.getaddrinfo(name, None, proto=socket.IPPROTO_TCP)
        except OSError:
            continue
        for info in infos:
            with contextlib.suppress(ValueError):
                found.add(ipaddress.ip_network(str(info[4][0])))
    return tuple(sorted(found, key=str))


async def keep_resolved(
    static: tuple[Network, ...],
    names: Sequence[str],
    apply: Callable[[tuple[Network, ...]], None],
    stop: asyncio.Event,
    every_s: float = RESOLVE_EVERY_S,
) -> None:
    """Until ``stop``: ``apply(static + what the names resolve to now)`` every ``every_s``
    (a proxy container recreated gets a new address)."""
    while not stop.is_set():
        apply(static + await resolve(names))
        await sleep_or_stop(stop, every_s)


def _address(text: str | None) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    if not text:
        return None
    try:
        return ipaddress.ip_address(text.strip())
    except ValueError:
        return None


def is_trusted(peer: str | None, trusted: Sequence[Network]) -> bool:
    address = _address(peer)
    return address is not None and any(address in net for net in trusted)


def client_address(
    peer: str | None, forwarded_for: str | None, trusted: Sequence[Network]
) -> str | None:  # noqa: E501
    """The client's address: the peer, or (from a trusted proxy) the right-most
    ``X-Forwarded-For`` entry that is not itself a trusted proxy."""
    if not forwarded_for or not is_trusted(peer, trusted):
        return peer
    for hop in reversed(forwarded_for.split(",")):
        address = _address(hop)
        if address is None:
            return peer  # a malformed chain: do not guess
        if not any(address in net for net in trusted):
            return str(address)
    return peer


def forwarded_https(peer: str | None, proto: str | None, trusted: Sequence[Network]) -> bool:
    """Did a trusted proxy receive the request over https?"""
    if not proto or not is_trusted(peer, trusted):
        return False
    return proto.split(",")[0].strip().lower() == "https"


def is_loopback(address: str | None) -> bool:
    parsed = _address(address)
    return parsed is not None and parsed.is_loopback
