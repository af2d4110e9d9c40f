"""Redis Cluster settings and start-up: the hash-tag rule, the cluster client, bad input."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from pydantic import ValidationError
from redis.exceptions import RedisClusterException, ResponseError

from medscribe.supervisor import stack
from medscribe.supervisor.supervisor import FileSink, Supervisor
from shared.contracts import StreamNames
from shared.redis_urls import check_cluster_prefix, is_cluster_url
from shared.settings import CommonSettings
from shared.streams import make_redis
from tests.cluster.procs import RedisClusterProcs
from tests.helpers.procs import free_port, medscribe_cmd, subprocess_env
from tests.kit.cluster import clinic_prefix

CLUSTER = "redis+cluster://127.0.0.1:7000"


def test_cluster_url_is_recognised() -> None:
    assert is_cluster_url(CLUSTER)
    assert is_cluster_url("rediss+cluster://h:1")
    assert not is_cluster_url("redis://127.0.0.1:6379/0")


@pytest.mark.parametrize("prefix", ["ms:", "ms:{}:", "ms:{clinic-a:", "ms:clinic}-a:"])
def test_cluster_prefix_without_hash_tag_is_refused(prefix: str) -> None:
    with pytest.raises(ValidationError, match="hash tag"):
        CommonSettings(redis_url=CLUSTER, stream_prefix=prefix)
    assert check_cluster_prefix(CLUSTER, prefix) is not None


@pytest.mark.parametrize("prefix", ["ms:{clinic-a}:", "{c}", "x:{a}{b}:"])
def test_cluster_prefix_with_hash_tag_is_accepted(prefix: str) -> None:
    assert CommonSettings(redis_url=CLUSTER, stream_prefix=prefix).stream_prefix == prefix


def test_single_redis_takes_any_prefix() -> None:
    assert CommonSettings(redis_url="redis://127.0.0.1:6379/0", stream_prefix="ms:")


def _start(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*medscribe_cmd(), "stt-bridge"], env=env, capture_output=True,
                          text=True, timeout=60, check=False)  # fmt: skip


def test_untagged_prefix_on_cluster_fails_at_start_with_one_line() -> None:
    env = subprocess_env(MEDSCRIBE_REDIS_URL=CLUSTER, MEDSCRIBE_STREAM_PREFIX="ms:",
                         ASSEMBLYAI_API_KEY="k")  # fmt: skip
    done = _start(env)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    assert "STREAM_PREFIX" in lines[0]
    assert "hash tag" in lines[0]


def test_unreachable_seed_fails_at_start_with_one_line() -> None:
    port = free_port()  # nothing listens there
    env = subprocess_env(MEDSCRIBE_REDIS_URL=f"redis+cluster://u:secret@127.0.0.1:{port}",
                         MEDSCRIBE_STREAM_PREFIX="ms:{c}:", ASSEMBLYAI_API_KEY="k")  # fmt: skip
    done = _start(env)
    assert done.returncode == 2, done.stderr[-2000:]
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("medscribe: no Redis Cluster node answers at 127.0.0.1:")
    assert "Traceback" not in done.stderr
    assert "secret" not in done.stderr


async def test_one_clinic_spans_one_slot_on_a_real_cluster(
    redis_cluster: RedisClusterProcs,
) -> None:
    client = make_redis(redis_cluster.url)
    script = "redis.call('XADD', KEYS[1], '*', 'a', '1'); return redis.call('XADD', KEYS[2], '*', 'b', '2')"  # noqa: E501
    try:
        clinic = StreamNames(clinic_prefix("clinic-a"))
        # A script and a multi-stream read over a clinic's shared and per-encounter keys.
        assert await client.eval(script, 2, clinic.control, clinic.audio("e1"))
        reply = await client.xread({clinic.control: "0", clinic.audio("e1"): "0"})
        assert len(reply) == 2
        # Why the tag is required: the same over an untagged prefix spans slots.
        plain = StreamNames("ms-plain:")
        assert is_cluster_url(redis_cluster.url)
        with pytest.raises((ResponseError, RedisClusterException), match="same key slot|CROSSSLOT"):
            await client.eval(script, 2, plain.control, plain.audio("e1"))
    finally:
        await client.aclose()


async def test_up_uses_the_cluster_and_never_a_private_redis_in_its_place(
    tmp_path: Path, redis_cluster: RedisClusterProcs
) -> None:
    sup = Supervisor(FileSink(tmp_path / "logs"))
    choice = await stack.provide_redis(sup, redis_cluster.url, tmp_path / "r", persistent=False,
                                       port=free_port())  # fmt: skip
    assert (choice.url, choice.origin) == (redis_cluster.url, "external")
    dead = f"redis+cluster://127.0.0.1:{free_port()}"
    with pytest.raises(stack.StackError, match="no Redis Cluster node answers at 127.0.0.1:"):
        await stack.provide_redis(sup, dead, tmp_path / "r", persistent=False, port=free_port())
    assert not sup.services  # no redis-server was started in its place
    await sup.stop()
