"""Offline AssemblyAI Streaming v3 server (`ws://HOST:PORT/v3/ws`) with fault injection.

    async with await start_stt_simulator(SttSimConfig(time_scale=20)) as sim:
        ... connect to sim.url (or the SDK with api_host=sim.base_url) ...

Also serves `GET /v3/token?expires_in_seconds=N` (single-use temporary tokens) on the same
port. Protocol facts: `../shared/design/assemblyai-protocol.md` §1-4 and §9.6.
"""

from __future__ import annotations

import asyncio
import json
import random
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from http import HTTPStatus
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.http11 import Request, Response

from shared.logging import get_logger
from simulators.stt_config import SttSimConfig, SttSimStats
from simulators.stt_params import ParamError, parse_query
from simulators.stt_session import SessionRecord, SttSession, reject

log = get_logger(__name__)
__all__ = [
    "SessionRecord", "SttSimConfig", "SttSimStats", "SttSimulator", "run_stt_simulator_in_thread",
    "start_stt_simulator", "start_stt_simulator_thread",
]  # fmt: skip


class SttSimulator:
    def __init__(self, config: SttSimConfig) -> None:
        self.config = config
        self.stats = SttSimStats()
        self.sessions: deque[SessionRecord] = deque(maxlen=1000)  # newest last
        self._server: Server | None = None
        self._tokens: dict[str, tuple[float, float]] = {}  # token -> (expires, max_session_s)
        self._session_starts: deque[float] = deque()
        self._rng = random.Random(config.seed) if config.seed is not None else None
        self.host = "127.0.0.1"
        self.port = 0

    def new_id(self) -> str:
        """A UUID4 string; reproducible when `config.seed` is set."""
        if self._rng is None:
            return str(uuid.uuid4())
        return str(uuid.UUID(int=self._rng.getrandbits(128), version=4))

    @property
    def base_url(self) -> str:
        return f"ws://{self.host}:{self.port}"

    @property
    def url(self) -> str:
        return f"{self.base_url}/v3/ws"

    async def start(self, host: str, port: int) -> None:
        self._server = await serve(
            self._handle,
            host,
            port,
            process_request=self._process_request,
            compression=None,
            max_size=8 * 1024 * 1024,
            ping_interval=None,
        )
        sockname = self._server.sockets[0].getsockname()
        self.host, self.port = host, int(sockname[1])
        log.info("stt_sim_listening", host=host, port=self.port)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def serve_forever(self) -> None:
        assert self._server is not None
        await self._server.serve_forever()

    async def __aenter__(self) -> SttSimulator:
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    # -- HTTP: routing and temporary tokens --------------------------------------------

    def _process_request(self, conn: ServerConnection, request: Request) -> Response | None:
        url = urlsplit(request.path)
        if url.path == "/v3/token":
            return self._token(request, url.query)
        if url.path != "/v3/ws":
            return _json(HTTPStatus.NOT_FOUND, {"error": "Not found"})
        return None

    def _token(self, request: Request, query: str) -> Response:
        if request.headers.get("Authorization") not in self.config.api_keys:
            return _json(HTTPStatus.UNAUTHORIZED, {"error": "Invalid API key"})
        q = {k: v[-1] for k, v in parse_qs(query).items()}
        try:
            expires = int(q["expires_in_seconds"])
            max_s = int(q.get("max_session_duration_seconds", "10800"))
        except (KeyError, ValueError):
            return _json(HTTPStatus.BAD_REQUEST, {"error": "expires_in_seconds is required"})
        if not 1 <= expires <= 600 or not 60 <= max_s <= 10800:
            return _json(HTTPStatus.BAD_REQUEST, {"error": "parameter out of range"})
        token = f"sim-tmp-{self.new_id()}"
        deadline = time.monotonic() + expires / self.config.time_scale
        self._tokens[token] = (deadline, float(max_s))
        self.stats.tokens_issued += 1
        return _json(HTTPStatus.OK, {"token": token, "expires_in_seconds": expires})

    def _redeem(self, token: str | None) -> float | None:
        """Single use: the token's max session seconds, or None if unknown/expired/used."""
        if token is None or token not in self._tokens:
            return None
        deadline, max_s = self._tokens.pop(token)
        return max_s if time.monotonic() <= deadline else None

    # -- WebSocket sessions ----------------------------------------------------------

    def _authorize(self, ws: ServerConnection, query: str) -> float | None:
        """Max session seconds for this connection, or None when unauthorized."""
        assert ws.request is not None
        header = ws.request.headers.get("Authorization")
        if header is not None and header in self.config.api_keys:
            return self.config.max_session_s
        token = parse_qs(query).get("token", [None])[-1]
        for candidate in (header, token):
            max_s = self._redeem(candidate)
            if max_s is not None:
                return min(max_s, self.config.max_session_s)
        return None

    def _rate_limited(self) -> bool:
        cfg = self.config
        if cfg.max_concurrent_sessions is not None and (
            self.stats.sessions_active >= cfg.max_concurrent_sessions
        ):
            return True
        if cfg.new_sessions_per_min is None:
            return False
        now = time.monotonic()
        window = 60.0 / cfg.time_scale
        while self._session_starts and now - self._session_starts[0] > window:
            self._session_starts.popleft()
        if len(self._session_starts) >= cfg.new_sessions_per_min:
            return True
        self._session_starts.append(now)
        return False

    async def _handle(self, ws: ServerConnection) -> None:
        assert ws.request is not None
        query = urlsplit(ws.request.path).query
        code = await self._open(ws, query)
        log.info("stt_sim_session_closed", close_code=code)

    async def _open(self, ws: ServerConnection, query: str) -> int:
        opened_at = time.monotonic()
        max_s = self._authorize(ws, query)
        if max_s is None:
            missing = ws.request is not None and "Authorization" not in ws.request.headers
            reason = "Missing Authorization header" if missing else "Invalid API key"
            return await reject(self, ws, 1008, f"Unauthorized Connection: {reason}")
        if self._rate_limited():
            return await reject(self, ws, self.config.rate_limit_code, self.config.rate_limit_text)
        try:
            params = parse_query(query)
        except ParamError as err:
            return await reject(self, ws, 3006, str(err))
        if self.config.begin_delay_s > 0:
            await asyncio.sleep(self.config.begin_delay_s)
        session = SttSession(self, ws, params, max_s, query, opened_at)
        self.sessions.append(session.record)
        self.stats.sessions_opened += 1
        self.stats.sessions_active += 1
        log.info("stt_sim_session_opened", session_id=session.id, speech_model=params.speech_model)
        try:
            return await session.run()
        finally:
            self.stats.sessions_active -= 1


def _json(status: HTTPStatus, body: dict[str, Any]) -> Response:
    data = json.dumps(body).encode()
    headers = Headers([("Content-Type", "application/json"), ("Content-Length", str(len(data)))])
    return Response(status.value, status.phrase, headers, data)


async def start_stt_simulator(
    config: SttSimConfig | None = None, host: str = "127.0.0.1", port: int = 0
) -> SttSimulator:
    sim = SttSimulator(config or SttSimConfig())
    await sim.start(host, port)
    return sim


def run_stt_simulator_in_thread(
    config: SttSimConfig | None = None, host: str = "127.0.0.1"
) -> tuple[str, Callable[[], None]]:
    """Start the simulator on its own event loop in a daemon thread: (url, stop)."""
    sim, stop = start_stt_simulator_thread(config, host)
    return sim.url, stop


def start_stt_simulator_thread(
    config: SttSimConfig | None = None, host: str = "127.0.0.1"
) -> tuple[SttSimulator, Callable[[], None]]:
    """Like `run_stt_simulator_in_thread`, but returns the simulator itself, so sync tests
    can read `.stats` or change `.config` fields while it runs."""
    loop = asyncio.new_event_loop()
    ready: asyncio.Future[SttSimulator] = loop.create_future()
    stop_event = asyncio.Event()

    async def main() -> None:
        try:
            sim = await start_stt_simulator(config, host, 0)
        except Exception as err:  # surfaced to the caller below
            ready.set_exception(err)
            return
        ready.set_result(sim)
        await stop_event.wait()
        await sim.close()

    def runner() -> None:
        try:
            loop.run_until_complete(main())
        finally:
            loop.close()

    thread = threading.Thread(target=runner, name="stt-simulator", daemon=True)
    thread.start()
    sim = asyncio.run_coroutine_threadsafe(_wait(ready), loop).result(timeout=30)

    def stop() -> None:
        if thread.is_alive():
            loop.call_soon_threadsafe(stop_event.set)
            thread.join(timeout=30)

    return sim, stop


async def _wait(fut: asyncio.Future[SttSimulator]) -> SttSimulator:
    return await fut
