"""A real Redis Cluster (3 primaries + 3 replicas on loopback) per test, and clinic prefixes."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cluster.procs import RedisClusterProcs, redis_cli_binary


@pytest.fixture
def redis_cluster(tmp_path: Path) -> Iterator[RedisClusterProcs]:
    if redis_cli_binary() is None:
        if os.environ.get("REQUIRE_REDIS") == "1":
            pytest.fail("Redis Cluster tests need redis-server and redis-cli on PATH")
        pytest.skip("Redis Cluster tests need redis-server and redis-cli on PATH")
    cluster = RedisClusterProcs(tmp_path / "cluster")
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


def clinic_prefix(clinic: str) -> str:
    """A clinic's key space: one hash tag, so one slot (unique per test run)."""
    return f"ms:{{{clinic}-{uuid.uuid4().hex[:8]}}}:"
