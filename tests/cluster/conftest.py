"""A real Redis Cluster (3 primaries + 3 replicas on loopback) per test session (clinic
prefixes: ``tests.kit.cluster``)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.cluster.procs import RedisClusterProcs, redis_cli_binary


@pytest.fixture(scope="session")
def _session_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisClusterProcs]:
    if redis_cli_binary() is None:
        if os.environ.get("REQUIRE_REDIS") == "1":
            pytest.fail("Redis Cluster tests need redis-server and redis-cli on PATH")
        pytest.skip("Redis Cluster tests need redis-server and redis-cli on PATH")
    cluster = RedisClusterProcs(tmp_path_factory.mktemp("cluster"))
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def redis_cluster(_session_cluster: RedisClusterProcs) -> Iterator[RedisClusterProcs]:
    """One cluster per test session (starting six nodes costs seconds); each test gets it
    whole, with three primaries each replicated, whatever the previous test killed or froze.
    Tests keep apart by their clinic prefixes (``tests.kit.cluster.clinic_prefix``)."""
    _session_cluster.heal()
    try:
        yield _session_cluster
    finally:
        for port in list(_session_cluster.frozen):
            _session_cluster.thaw(port)
