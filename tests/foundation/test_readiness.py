"""shared/readiness.py against real servers: the STT token endpoint of the simulator, the
production-ACL Redis, and the reason code reaching /readyz."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
import redis as sync_redis

from shared.contracts import StreamNames
from shared.gateway_types import AttemptEvent
from shared.health import HealthServer
from shared.readiness import (
    GATEWAY_KEY_REJECTED,
    REDIS_PERMISSIONS_MISSING,
    STT_KEY_REJECTED,
    STT_UNREACHABLE,
    GatewayKeyWatch,
    NotReady,
    RedisPermissionsProbe,
    SttKeyProbe,
    token_url,
)
from shared.streams import make_redis
from simulators.stt_server import SttSimConfig, SttSimulator, start_stt_simulator
from tests.helpers.acl import AclRedis


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def stt() -> AsyncIterator[SttSimulator]:
    simulator = await start_stt_simulator(SttSimConfig(api_keys=("good-key",)))
    yield simulator
    await simulator.close()


def test_token_url_follows_the_streaming_url() -> None:
    assert token_url("wss://streaming.eu.assemblyai.com/v3/ws?x=1") == (
        "https://streaming.eu.assemblyai.com/v3/token"
    )
    assert token_url("ws://127.0.0.1:8765/v3/ws") == "http://127.0.0.1:8765/v3/token"


async def test_stt_key_probe_rejected_then_accepted_then_unreachable(stt: SttSimulator) -> None:
    clock = Clock()
    probe = SttKeyProbe(stt.url, "bad-key", clock=clock, ok_every_s=300, fail_every_s=15)
    assert await probe.reason() == STT_KEY_REJECTED
    with pytest.raises(NotReady) as err:
        await probe.require()
    assert err.value.code == STT_KEY_REJECTED
    assert probe.probes == 1

    stt.config.api_keys = ("good-key", "bad-key")  # the account admin fixed the key
    clock.now += 14
    assert await probe.reason() == STT_KEY_REJECTED  # within the retry interval: cached
    clock.now += 2
    assert await probe.reason() is None
    assert stt.stats.sessions_opened == 0
    assert stt.stats.tokens_issued == 1

    await stt.close()
    assert await probe.reason() is None  # an accepted key is trusted for ok_every_s
    clock.now += 301
    assert await probe.reason() == STT_UNREACHABLE
    # no answer: asked again after 2 s, then 4, 8, and at most every fail_every_s
    asked = probe.probes
    for wait in (2, 4, 8, 15, 15):
        clock.now += wait - 0.5
        assert await probe.reason() == STT_UNREACHABLE
        assert probe.probes == asked  # not yet
        clock.now += 0.5
        assert await probe.reason() == STT_UNREACHABLE
        asked += 1
        assert probe.probes == asked


def test_gateway_key_watch_follows_the_last_answer() -> None:
    watch = GatewayKeyWatch()
    seen: list[AttemptEvent] = []
    observer = watch.chain(seen.append)
    watch.require()
    observer(AttemptEvent("m", 1, 401, "unauthorized", "fail", 0.1, None))
    with pytest.raises(NotReady) as err:
        watch.require()
    assert err.value.code == GATEWAY_KEY_REJECTED
    observer(AttemptEvent("m", 1, 429, "rate_limited", "retry", 0.1, None))
    assert watch.rejected  # a rate limit says nothing about the key
    observer(AttemptEvent("m", 2, 200, "ok", "ok", 0.1, None))
    watch.require()
    assert len(seen) == 3  # the previous observer (metrics) still sees every attempt


async def test_redis_permissions_taken_away_from_a_running_service(acl_redis: AclRedis) -> None:
    clock = Clock()
    url = acl_redis.url("bridge")
    client = make_redis(url)
    admin = sync_redis.Redis.from_url(acl_redis.admin_url)
    probe = RedisPermissionsProbe(client, "bridge", StreamNames(), url, every_s=60, clock=clock)
    try:
        await probe.require()
        admin.execute_command("ACL", "SETUSER", "bridge", "-hset")
        await probe.require()  # checked less often than every readiness probe
        clock.now += 61
        with pytest.raises(NotReady) as err:
            await probe.require()
        assert err.value.code == REDIS_PERMISSIONS_MISSING
    finally:
        admin.execute_command("ACL", "SETUSER", "bridge", "+hset")
        admin.close()
        await client.aclose()
    fixed = make_redis(url)  # the ACL put back: a fresh check passes
    try:
        again = RedisPermissionsProbe(fixed, "bridge", StreamNames(), url, clock=clock)
        await again.require()
    finally:
        await fixed.aclose()


async def test_not_ready_reason_reaches_readyz() -> None:
    def check() -> bool:
        raise NotReady(STT_KEY_REJECTED)

    server = await HealthServer("127.0.0.1", 0, ready=check).start()
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.port}") as http:
            resp = await http.get("/readyz")
        assert resp.status_code == 503
        assert resp.json() == {"status": "not_ready", "reason": STT_KEY_REJECTED}
    finally:
        await server.close()
