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
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.http11 import Request, Response

from shared.logging import get_logger
from simulators.stt_params import ParamError, parse_query
from simulators.stt_realism import ExpiresAtFormat
from simulators.stt_session import SessionRecord, SttSession, reject

log = get_logger(__name__)
__all__ = [
    "SessionRecord", "SttSimConfig", "SttSimStats", "SttSimulator", "run_stt_simulator_in_thread",
    "start_stt_simulator", "start_stt_simulator_thread",
]  # fmt: skip
TOO_MANY = "Unauthorized Connection: Too many concurrent sessions"


@dataclass
class SttSimConfig:
    """Knobs of the simulator; tests may change them on a running `sim.config`."""

    api_keys: tuple[str, ...] = ("sim-key",)
    time_scale: float = 1.0  # every server clock runs this many times faster than wall time
    lookahead_s: float = 30.0  # audio allowed ahead of the scaled clock before 3007
    max_session_s: float = 10800.0  # audio or scaled seconds per session before 3008
    drop_every_s: float | None = None  # abort each session's TCP connection (1006) after N s
    error_after_s: float | None = None  # send Error + close `error_code` after N s
    error_code: int = 3005
    new_sessions_per_min: int | None = None  # per scaled minute; beyond -> rate_limit_code
    rate_limit_code: int = 1008  # 1008 or 3009, both seen in the docs
    rate_limit_text: str = TOO_MANY  # the service rewords its reasons; clients must cope
    begin_delay_s: float = 0.0  # WALL seconds before Begin (to test client Begin timeouts)
    legacy_double_final: bool = False  # Universal-Streaming format_turns: two finals per turn
    max_concurrent_sessions: int | None = None
    seed: int | None = None  # reproducible session ids and tokens (else random)
    # Realistic-server knobs (the real service is less tidy than its schema):
    expires_at_format: ExpiresAtFormat = "int"  # Begin.expires_at shape
    null_fields: bool = False  # nulls for confidences and empty word lists
    extra_messages: bool = False  # Heartbeat/Warning/SpeechStarted between turns
    # With speaker labels: every Nth final first names the wrong speaker, and a
    # SpeakerRevision corrects it after the next final (or just before Termination).
    speaker_revision_every: int | None = None
    # Sessions after the simulator's first label the first two speakers the other way
    # round ("A" is whoever spoke second): the service labels each session anew.
    swap_labels_after_first: bool = False
    unusable_final_every: int | None = None  # every Nth final arrives without text or words
    mishear_drugs: bool = False  # drug names split/respelled by sound (asr_confusions table)
    reply_latency_s: float = 0.0  # scaled s from the audio to its Turn (a drop loses it)
    word_jitter_ms: int = 0  # word edges are estimates: each moved by up to this, overlapping
    termination_delay_s: float = 0.0  # WALL s between the last turn and Termination
    terminate_hangs: bool = False  # on Terminate nothing more comes: no last turn, no Termination

    @classmethod
    def realistic(cls, **kw: Any) -> SttSimConfig:
        """The "realistic server" profile: nulls, extra message types, another
        ``expires_at`` shape, replies that lag the audio, estimated word times and a
        Termination that takes its time. Keyword arguments override any knob."""
        base: dict[str, Any] = {
            "null_fields": True, "extra_messages": True, "expires_at_format": "iso",
            "reply_latency_s": 0.4, "word_jitter_ms": 150, "termination_delay_s": 0.5,
            "speaker_revision_every": 3,
        }  # fmt: skip
        return cls(**{**base, **kw})

    def __post_init__(self) -> None:
        if self.time_scale <= 0:
            raise ValueError("time_scale must be > 0")
        if not self.api_keys:
            raise ValueError("at least one API key is needed")
        for name in ("unusable_final_every", "speaker_revision_every"):
            n = getattr(self, name)
            if n is not None and n < 1:
                raise ValueError(f"{name} must be >= 1")
        if self.lookahead_s < 0 or self.max_session_s <= 0 or self.begin_delay_s < 0:
            raise ValueError("lookahead_s, max_session_s and begin_delay_s must be positive")
        if self.reply_latency_s < 0 or self.word_jitter_ms < 0 or self.termination_delay_s < 0:
            raise ValueError("reply_latency_s, word_jitter_ms and termination_delay_s must be >= 0")
        for name in ("error_code", "rate_limit_code"):
            if not _valid_close_code(getattr(self, name)):
                raise ValueError(f"{name} must be 1006, 1008-1014 or 3000-4999")


def _valid_close_code(code: int) -> bool:
    return code == 1006 or 1008 <= code <= 1014 or 3000 <= code <= 4999


@dataclass
class SttSimStats:
    sessions_opened: int = 0
    sessions_active: int = 0
    sessions_rejected: int = 0
    closed_by_code: Counter[int] = field(default_factory=Counter)
    audio_seconds: float = 0.0
    finals: int = 0
    partials: int = 0
    tokens_issued: int = 0
    unusable_finals: int = 0  # finals sent without text (unusable_final_every)
    speaker_revisions: int = 0  # finals sent with the wrong speaker, revised later

    @property
    def turns_emitted(self) -> int:
        return self.finals

    def count_turn(self, msg: dict[str, Any]) -> None:
        if msg["end_of_turn"]:
            self.finals += 1
        else:
            self.partials += 1


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
