"""What a Redis URL says about the deployment: a Redis Cluster seed, and whether a stream
prefix can be used on it. Pure functions, used by the settings (checked at start) and the
stream clients."""

from __future__ import annotations

CLUSTER_SCHEMES = {"redis+cluster": "redis", "rediss+cluster": "rediss"}


def is_cluster_url(url: str) -> bool:
    """``redis+cluster://`` (or ``rediss+cluster://``): the seed node of a Redis Cluster."""
    return url.split("://", 1)[0].lower() in CLUSTER_SCHEMES


def cluster_seed_url(url: str) -> str:
    """The seed node of a ``redis+cluster://`` URL as a plain ``redis://`` URL (database 0)."""
    scheme, sep, rest = url.partition("://")
    return CLUSTER_SCHEMES[scheme.lower()] + sep + rest.split("/", 1)[0]


def check_cluster_prefix(url: str, prefix: str) -> str | None:
    """Why ``prefix`` cannot be used on this Redis, or None when it can.

    On a cluster every key of one clinic must hash to one slot (Lua scripts, transactions
    and the bridge's multi-stream XREAD span the clinic's keys), so the prefix must carry a
    Redis hash tag, e.g. ``ms:{clinic-a}:``.
    """
    if not is_cluster_url(url):
        return None
    start = prefix.find("{")
    end = prefix.find("}", start + 1) if start >= 0 else -1
    if start < 0 or end < 0 or end == start + 1:
        return (
            "on Redis Cluster the stream prefix needs a hash tag such as 'ms:{clinic-a}:' "
            "so that all of a clinic's keys share one slot (scripts and multi-key reads "
            "would fail with CROSSSLOT otherwise)"
        )
    return None
