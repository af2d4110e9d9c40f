"""Fixtures shared by the whole suite: real Redis, real PostgreSQL, isolated key prefixes.

Redis is found in this order: REDIS_URL, then testcontainers (when a Docker engine
answers), then a private redis-server on a free port. Set REQUIRE_REDIS=1 (CI does) to
make "no Redis at all" a failure instead of a skip.
"""

from __future__ import annotations

import asyncio
import os
import socket
import tempfile
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import redis as sync_redis
import redis.asyncio as aioredis
from _pytest.terminal import TerminalReporter
from hypothesis import settings as hypothesis_settings
from redis.backoff import NoBackoff
from redis.retry import Retry

from shared.acibench import Dialogue, default_path, load_dialogues
from shared.contracts import StreamNames
from shared.streams import make_redis
from tests.chaos import report as chaos_report
from tests.helpers.acl import AclRedis
from tests.helpers.procs import RedisServer, redis_server_binary

hypothesis_settings.register_profile("ci", max_examples=50, deadline=None, derandomize=True)
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def _ping(url: str) -> bool:
    try:
        client = sync_redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=2)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except Exception:  # noqa: BLE001
        return False


def _no_redis(reason: str) -> None:
    if os.environ.get("REQUIRE_REDIS") == "1":
        pytest.fail(f"Redis required but unavailable: {reason}")
    pytest.skip(f"no Redis available: {reason}")


@pytest.fixture(scope="session")
def redis_server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    env_url = os.environ.get("REDIS_URL")
    if env_url:
        if not _ping(env_url):
            _no_redis(f"REDIS_URL={env_url} does not answer")
        yield env_url
        return
    try:
        from docker.errors import DockerException
        from testcontainers.community.redis import RedisContainer

        try:
            with RedisContainer("redis:7-alpine") as container:
                host = container.get_container_host_ip()
                port = container.get_exposed_port(6379)
                yield f"redis://{host}:{port}/0"
                return
        except (DockerException, RuntimeError, TimeoutError, ConnectionError):
            pass
    except ImportError:
        pass
    if redis_server_binary() is None:
        _no_redis("no REDIS_URL, no Docker engine, no redis-server binary")
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    server.start()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture
def stream_prefix() -> str:
    """A key prefix of this test's own, so tests never see each other's streams."""
    return f"t{uuid.uuid4().hex[:10]}:"


@pytest.fixture
def names(stream_prefix: str) -> StreamNames:
    return StreamNames(stream_prefix)


@pytest.fixture
def redis_url(redis_server_url: str, stream_prefix: str) -> Iterator[str]:
    yield redis_server_url
    client = sync_redis.Redis.from_url(redis_server_url)
    try:
        keys = list(client.scan_iter(match=f"{stream_prefix}*", count=1000))
        for i in range(0, len(keys), 500):
            client.delete(*keys[i : i + 500])
    finally:
        client.close()


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    client = make_redis(redis_url)
    yield client
    await client.aclose()


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A redis-server of this test's own that it may stop and restart."""
    if redis_server_binary() is None:
        pytest.skip("redis-server binary not available")
    server = RedisServer(tmp_path / "private-redis")
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def acl_redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AclRedis]:
    """A redis-server of this session's own loaded with deploy/users.acl (its `default`
    user has a password nobody knows, so the shared Redis is never touched)."""
    if redis_server_binary() is None:
        _no_redis("the production-ACL tests need a redis-server binary")
    server = AclRedis(tmp_path_factory.mktemp("acl-redis"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def acl_redis(acl_redis_server: AclRedis) -> Iterator[AclRedis]:
    """The production-ACL Redis, empty for this test (keys use the production ``ms:``
    prefix, so tests on it take turns: it is emptied before and after each)."""
    # A test may run ACL LOAD, which can close every connection (this one too): the
    # clean-up reconnects once instead of failing in teardown.
    admin = sync_redis.Redis.from_url(
        acl_redis_server.admin_url,
        retry=Retry(NoBackoff(), 1),
        retry_on_error=[sync_redis.ConnectionError],
    )

    def forget_rooms() -> None:
        # Rooms' users (issue 19) live in the ACL, not in the keyspace FLUSHALL empties.
        for user in admin.acl_users():
            name = user.decode() if isinstance(user, bytes) else str(user)
            if name.startswith("room-"):
                admin.acl_deluser(name)

    try:
        admin.flushall()
        forget_rooms()
        admin.acl_log_reset()
        yield acl_redis_server
        admin.flushall()
        forget_rooms()
    finally:
        admin.close()


def _pg_base_url() -> str:
    return os.environ.get("DATABASE_URL") or "postgresql+asyncpg://postgres@127.0.0.1:5432/test"


def _pg_reachable(url: str) -> bool:
    parts = urlsplit(url.replace("+asyncpg", ""))
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 5432), 1):
            return True
    except OSError:
        return False


@pytest.fixture
def postgres_factory() -> Iterator[Callable[[], str]]:
    """Make fresh, empty PostgreSQL databases for this test (all dropped afterwards)."""
    base = _pg_base_url()
    if not base.startswith("postgresql") or not _pg_reachable(base):
        pytest.skip("PostgreSQL not reachable (set DATABASE_URL or run it on 127.0.0.1:5432)")
    import asyncpg

    plain = base.replace("+asyncpg", "")
    made: list[str] = []

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(plain)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    def make() -> str:
        name = f"ms_test_{uuid.uuid4().hex[:12]}"
        try:
            asyncio.run(admin(f'CREATE DATABASE "{name}"'))
        except Exception as err:  # noqa: BLE001
            pytest.skip(f"cannot create a test database on PostgreSQL: {type(err).__name__}")
        made.append(name)
        return urlsplit(base)._replace(path=f"/{name}").geturl()

    yield make
    for name in made:
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def postgres_url(postgres_factory: Callable[[], str]) -> str:
    """A fresh, empty PostgreSQL database for this test (dropped afterwards)."""
    return postgres_factory()


@pytest.fixture(scope="session")
def aci_dialogues() -> list[Dialogue]:
    path = Path(os.environ.get("MEDSCRIBE_ACI_BENCH", default_path()))
    if not path.exists():
        pytest.skip(f"ACI-Bench data not found at {path}")
    return load_dialogues(path)


def pytest_addoption(parser: pytest.Parser) -> None:
    # Here, not in tests/chaos/conftest.py: options must be known before collection.
    parser.addoption(
        "--soak", action="store_true", default=False,
        help="also run the chaos suite's long soak variant (marker `soak`)",
    )  # fmt: skip


@pytest.hookimpl(tryfirst=True)  # before xdist's worker turns the marker into a node id suffix
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """With pytest-xdist (`-n 2 --dist loadgroup` in pyproject), keep each module's tests on
    one worker (module fixtures such as a running demo start once), and the whole chaos
    suite and the compose stack test on one worker each: two fault-injected stacks at once
    would only fight over the two cores. The Redis Cluster tests share one worker too: its
    session's cluster (six redis-server) is started once.

    The groups with the most `slow` tests go first (longest first: the workers hand out
    groups in collection order, so a long group collected last kept one worker busy alone
    at the end while the other had nothing left)."""
    groups: dict[pytest.Item, str] = {}
    slow: dict[str, int] = {}
    for item in items:
        path = Path(str(item.fspath)).resolve()
        parts = path.parts
        if "chaos" in parts:
            group = "chaos"
        elif "stack" in parts:
            group = "stack"
        elif "cluster" in parts:
            group = "cluster"
        else:
            group = str(path)
        item.add_marker(pytest.mark.xdist_group(group))
        groups[item] = group
        slow[group] = slow.get(group, 0) + (item.get_closest_marker("slow") is not None)
    items.sort(key=lambda item: -slow[groups[item]])  # stable: a group keeps its order


# The chaos suite's summary table (tests/chaos/report.py). Under pytest-xdist the scenarios
# run in a worker and the table is printed by the controller, which collects nothing (so
# these hooks live here, not in tests/chaos/conftest.py): the worker leaves its rows in a
# folder the controller made before starting the workers (they inherit the environment).
# The controller saves them to a results file outside the checkout (not in the base temp
# folder: other sessions of the same user prune it): a test run never changes tracked
# files, `python -m tests.chaos.report FILE` updates docs/reliability.md on purpose.


def _run_dir(config: pytest.Config) -> Path:
    """This session's pytest base temp folder (as pytest-xdist finds it; kept while the
    session runs), else a new folder."""
    factory = getattr(config, "_tmp_path_factory", None)
    if factory is not None:
        return Path(factory.getbasetemp())
    return Path(tempfile.mkdtemp(prefix="medscribe-chaos-"))


@pytest.hookimpl(trylast=True)  # after pytest's tmp_path plugin set up the base temp folder
def pytest_configure(config: pytest.Config) -> None:
    if not hasattr(config, "workerinput"):
        rows = _run_dir(config) / "chaos-rows"
        rows.mkdir(exist_ok=True)
        os.environ[chaos_report.ROWS_DIR_ENV] = str(rows)


def pytest_sessionfinish(session: pytest.Session) -> None:
    folder = os.environ.get(chaos_report.ROWS_DIR_ENV)
    if chaos_report.ROWS and hasattr(session.config, "workerinput") and folder:
        chaos_report.save_rows(chaos_report.ROWS, Path(folder))


def pytest_terminal_summary(terminalreporter: TerminalReporter) -> None:
    folder = os.environ.get(chaos_report.ROWS_DIR_ENV)
    rows = chaos_report.ROWS or (chaos_report.load_rows(Path(folder)) if folder else [])
    if not rows:
        return
    config = terminalreporter.config
    terminalreporter.section("chaos summary")
    for line in chaos_report.table(rows):
        terminalreporter.write_line(line)
    path = Path(os.environ.get(chaos_report.RESULTS_ENV) or chaos_report.default_results())
    path = path.resolve()
    try:
        chaos_report.save_results(rows, bool(config.getoption("--soak")), path)
    except OSError as err:
        terminalreporter.write_line(f"chaos results not saved to {path}: {err}", red=True)
        return
    terminalreporter.write_line(f"chaos results: {path}")
    terminalreporter.write_line(f"update docs/reliability.md: python -m tests.chaos.report {path}")
