"""Schemathesis over the real app: a uvicorn server on port 0, a migrated and seeded
SQLite database, real Redis, an admin token. Every generated request must get a
documented status (never 5xx), a documented content type and a body matching the schema.

The server runs in a thread with its own event loop (schemathesis' calls are blocking).
Half of the generated encounter ids are swapped for seeded ones, so the read and write
paths of real encounters are exercised, not only 404s. ``/events`` is left out: a live
stream of an unfinished encounter has no end by design (tests/api/test_live_events.py).
"""

from __future__ import annotations

import asyncio
import hashlib
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from pydantic import SecretStr
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from services.notes.api.app import create_app
from services.notes.api.server import serve_api
from services.notes.db.engine import Database
from services.notes.db.migrate import upgrade_async
from shared.contracts import StreamNames
from shared.gateway import GatewayClient
from shared.streams import make_redis
from simulators.llm_server import LlmSimConfig, start_llm_simulator
from tests.api.seeding import add_encounter, add_token
from tests.kit.api import make_settings

SEEDED = ["enc-ready", "enc-signed", "enc-review", "enc-other"]
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]
# Rooms' credentials (/v1/admin/rooms) need the Redis admin user, which this server is not
# given (the shared test Redis must not get fuzzed ACL users): they answer the documented
# 503 that says so, so the "never 5xx" check is left out for them, and only for them
# (with the admin user: tests/rooms/test_room_admin_api.py).
NO_ADMIN_USER = "/v1/admin/rooms"


class ServerThread:
    """serve_api in its own thread and loop; start() returns once it listens."""

    def __init__(self, db_url: str, redis_url: str, names: StreamNames, tmp: Path) -> None:
        self.db_url, self.redis_url, self.names, self.tmp = db_url, redis_url, names, tmp
        self.port = 0
        self.token = ""
        self.ready = threading.Event()
        self.error: BaseException | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.stop: asyncio.Event | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as err:  # noqa: BLE001 - reported to the test
            self.error = err
            self.ready.set()

    async def _main(self) -> None:
        await upgrade_async(self.db_url)
        db = Database(self.db_url)
        redis = make_redis(self.redis_url)
        await add_encounter(db, "enc-ready", status="ready")
        await add_encounter(db, "enc-signed", status="signed", note="signed")
        await add_encounter(db, "enc-review", status="needs_review")
        await add_encounter(db, "enc-other", clinician="dr-b", status="failed", note=None)
        for i in range(3):  # revocable by the fuzzer; the admin token has the next id
            await add_token(db, f"victim-{i}", "staff")
        self.token = await add_token(db, "fuzz-admin", "admin")
        self.loop = asyncio.get_running_loop()
        self.stop = asyncio.Event()
        bound: asyncio.Future[int] = self.loop.create_future()
        settings_ = make_settings(self.db_url, self.redis_url, self.names, self.tmp / "exports")
        # After-visit summaries are written through the LLM Gateway (its simulator here).
        sim = await start_llm_simulator(LlmSimConfig(seed=2))
        gateway = GatewayClient(sim.base_url, SecretStr("sim-key"), timeout=10.0)
        task = asyncio.create_task(
            serve_api(settings_, db, redis, self.stop, bound=bound, gateway=gateway)
        )
        self.port = await bound
        self.ready.set()
        try:
            await task
        finally:
            await gateway.aclose()
            await sim.close()
            await redis.aclose()
            await db.dispose()

    def start(self) -> None:
        self.thread.start()
        if not self.ready.wait(60) or self.error is not None:
            raise RuntimeError("the API server did not start") from self.error

    def close(self) -> None:
        if self.loop is not None and self.stop is not None:
            self.loop.call_soon_threadsafe(self.stop.set)
        self.thread.join(30)


@pytest.fixture(scope="module")
def api_server(
    tmp_path_factory: pytest.TempPathFactory, redis_server_url: str
) -> Iterator[ServerThread]:
    tmp = tmp_path_factory.mktemp("fuzz")
    server = ServerThread(
        f"sqlite+aiosqlite:///{tmp / 'notes.db'}", redis_server_url, StreamNames("tfuzz:"), tmp
    )
    server.start()
    yield server
    server.close()


def _openapi() -> dict[str, Any]:
    """The app's OpenAPI document (building the app opens no connection)."""
    names = StreamNames("tfuzz:")
    url = "sqlite+aiosqlite:///:memory:"
    app = create_app(
        make_settings(url, "redis://127.0.0.1:1/0", names, Path(".")), Database(url), None
    )
    return app.openapi()


# Loaded at import, not from a fixture: schemathesis' lazy loader needs a pytest < 9 internal.
schema = schemathesis.openapi.from_dict(_openapi()).exclude(path_regex=r"/events$")


ADMIN_TOKEN_ID = 4


def _seeded(case: Any) -> None:
    """Aim part of the generated requests at real data (chosen by a hash, so runs repeat).

    Every other encounter id becomes a seeded one, and on those a PUT gets ``If-Match: *``
    half the time so edits succeed too. The fuzzer must not revoke its own token.
    """
    params = case.path_parameters or {}
    value = params.get("encounter_id")
    if isinstance(value, str):
        digest = hashlib.sha256(value.encode()).digest()
        if digest[0] % 2 == 0:
            params["encounter_id"] = SEEDED[digest[1] % len(SEEDED)]
            if case.method.upper() == "PUT" and digest[2] % 2 == 0:
                case.headers = {**(case.headers or {}), "If-Match": "*"}
    if params.get("token_id") == ADMIN_TOKEN_ID:
        params["token_id"] = 1


# One pytest item per operation with its own node id (schemathesis' own parametrize gives
# them all one node id, and pytest-xdist runs one item per node id).
OPERATIONS = [result.ok() for result in schema.get_all_operations()]


@pytest.mark.parametrize("label", [op.label for op in OPERATIONS])
def test_api_conforms_to_its_schema(label: str, api_server: ServerThread) -> None:
    operation = next(op for op in OPERATIONS if op.label == label)

    @settings(
        max_examples=20,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy())
    def conforms(case: Any) -> None:
        _seeded(case)
        case.call_and_validate(
            base_url=f"http://127.0.0.1:{api_server.port}",
            headers={"Authorization": f"Bearer {api_server.token}"},
            checks=[c for c in CHECKS if c is not not_a_server_error]
            if operation.path.startswith(NO_ADMIN_USER)
            else CHECKS,
            timeout=30,
        )

    conforms()
