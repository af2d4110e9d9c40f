"""The real client behind a trusted reverse proxy (``trusted_proxies``).

``X-Forwarded-For`` and ``X-Forwarded-Proto`` are believed only when the connection comes
from a configured proxy address; from anyone else they are ignored (a client could
otherwise write any address into the audit log). uvicorn's own proxy handling is off so
that this is the one place that decides.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(text: str) -> tuple[Network, ...]:
    """``"127.0.0.1, 172.18.0.0/16"`` → networks; ValueError naming a bad entry."""
    out: list[Network] = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        try:
            out.append(ipaddress.ip_network(part, strict=False))
        except ValueError:
            raise ValueError(f"{part!r} is not an IP address or network") from None
    return tuple(out)


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
