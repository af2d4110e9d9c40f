"""LLM Gateway simulator: an offline, OpenAI-compatible server with the gateway's quirks.

Serves ``POST /v1/chat/completions`` (gateway response shape: ``choices``, ``usage``,
``request_id``, …) and ``GET /v1/models``. Authentication is the raw key in
``Authorization`` (a ``Bearer`` prefix is tolerated so the ``openai`` client works).
Errors use the gateway's two envelopes (assemblyai-protocol.md §6.4): auth failures
``{"error", "status", "request_id"}``, everything else
``{"message", "code", "request_id", "metadata": {"errors": [...]}}``.

Faults are injected from :class:`LlmSimConfig`, which tests may change while the server
runs: per-model requests-per-window limit (429 + ``Retry-After``), latency, 5xx rate,
hangs past the client's timeout, malformed bodies, a "down" switch, fabricated edits and
SOAP notes missing a section, and fabricated facts in a share of SOAP statements (each
recorded in ``stats.fabrications``, in the JSON-lines ``fabrication_log`` if set, and
counted in the ``x-medscribe-fabrications`` response header). Replies are deterministic
(see ``llm_behaviour``); SOAP requests with a ``json_schema`` ``response_format`` get
structured statements with their turn numbers.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
import random
import time
import uuid
from collections import defaultdict, deque
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from shared.health import AsgiServer
from shared.prompts import SOAP_MARKER, SUMMARY_MARKER
from simulators.llm_behaviour import answer, soap_answer, text_of
from simulators.llm_catalog import model_entry
from simulators.llm_config import SIM_EXTRA_MODELS, LlmSimConfig, LlmSimStats
from simulators.llm_summary import summary_answer

__all__ = [
    "SIM_EXTRA_MODELS",
    "LlmSimConfig",
    "LlmSimStats",
    "LlmSimulator",
    "build_app",
    "start_llm_simulator",
]


class _Failure(Exception):
    def __init__(self, response: Response, model: str = "-") -> None:
        self.response = response
        self.model = model


def _auth_error(request_id: str) -> JSONResponse:
    body = {"error": "Unauthorized - Invalid API key", "status": 401, "request_id": request_id}
    return JSONResponse(body, status_code=401)


def _business_error(
    status: int, message: str, request_id: str, errors: list[str] | None = None, **headers: str
) -> JSONResponse:
    body = {
        "message": message,
        "code": status,
        "request_id": request_id,
        "metadata": {"errors": errors or []},
    }
    return JSONResponse(body, status_code=status, headers=headers or None)


class _Gateway:
    def __init__(self, config: LlmSimConfig, stats: LlmSimStats) -> None:
        self.config = config
        self.stats = stats
        self.rng = random.Random(config.seed)
        self.windows: dict[str, deque[float]] = defaultdict(deque)
        self.soap_served = 0

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/v1/chat/completions", self.chat, methods=["POST"]),
                Route("/v1/models", self.models, methods=["GET"]),
            ]
        )

    async def models(self, _: Request) -> Response:
        return JSONResponse({"data": [model_entry(m) for m in self.config.models]})

    def _authorised(self, request: Request) -> bool:
        raw = request.headers.get("authorization", "").strip()
        if raw.lower().startswith("bearer "):
            raw = raw[7:].strip()
        return bool(raw) and raw in self.config.api_keys

    def _window_wait(self, model: str, now: float) -> float:
        """0 when ``model`` may take a request now, else seconds until it may."""
        limit = self.config.rpm_per_model
        if limit is None:
            return 0.0
        window = self.windows[model]
        while window and now - window[0] >= self.config.rpm_window_s:
            window.popleft()
        if len(window) < limit:
            return 0.0
        return window[0] + self.config.rpm_window_s - now

    async def chat(self, request: Request) -> Response:
        rid = str(uuid.uuid4())
        model = "-"
        self.stats.in_flight += 1
        self.stats.max_in_flight = max(self.stats.max_in_flight, self.stats.in_flight)
        try:
            model, response = await self._chat(request, rid)
        except _Failure as failure:
            model, response = failure.model, failure.response
        finally:
            self.stats.in_flight -= 1
        self.stats.counts[(model, response.status_code)] += 1
        return response

    async def _chat(self, request: Request, rid: str) -> tuple[str, Response]:
        cfg = self.config
        if not self._authorised(request):
            raise _Failure(_auth_error(rid))
        if cfg.down:
            raise _Failure(_business_error(503, "Service unavailable", rid))
        try:
            body = json.loads(await request.body())
            if not isinstance(body, dict):
                raise ValueError
        except ValueError:
            raise _Failure(_business_error(400, "Invalid JSON body", rid)) from None
        model, messages, errors = self._validate(body)
        if errors:
            raise _Failure(_business_error(400, "Validation error", rid, errors))
        fmt = body.get("response_format")
        refuse = cfg.reject_response_format
        if refuse and isinstance(fmt, dict) and fmt.get("type") == "json_schema":
            raise _Failure(
                _business_error(
                    refuse,
                    "Validation error",
                    rid,
                    ["response_format: json_schema is not supported for this model"],
                ),  # fmt: skip
                model,
            )
        if cfg.throttle_next > 0:
            cfg.throttle_next -= 1
            return model, self._throttled(rid, 1.0)
        served_model = self._admit(body, model, rid)
        if self.rng.random() < cfg.error_rate:
            return served_model, _business_error(cfg.error_status, "Upstream provider error", rid)
        if self.rng.random() < cfg.timeout_rate:
            await asyncio.sleep(cfg.hang_s)
            return served_model, _business_error(504, "Upstream timeout", rid)
        await asyncio.sleep(self._latency())
        if self.rng.random() < cfg.malformed_rate:
            return served_model, Response(
                '{"choices": [{"message": ', media_type="application/json"
            )
        return served_model, self._completion(body, served_model, messages, rid)

    def _validate(self, body: dict[str, Any]) -> tuple[str, list[dict[str, Any]], list[str]]:
        errors: list[str] = []
        model = body.get("model")
        if not isinstance(model, str) or not model:
            errors.append("model: required")
            model = "-"
        elif model not in self.config.models:
            errors.append("model: unknown model")
        messages = body.get("messages")
        if messages is None and isinstance(body.get("prompt"), str):
            messages = [{"role": "user", "content": body["prompt"]}]
        if not isinstance(messages, list) or not messages:
            errors.append("messages: required")
            messages = []
        max_tokens = body.get("max_tokens", 1000)
        if not isinstance(max_tokens, int) or max_tokens < 1:
            errors.append("max_tokens: must be an integer >= 1")
        temperature = body.get("temperature", 1.0)
        if not isinstance(temperature, (int, float)) or not 0 <= temperature <= 2:
            errors.append("temperature: must be between 0 and 2")
        return model, [m for m in messages if isinstance(m, dict)], errors

    def _throttled(self, rid: str, wait_s: float) -> JSONResponse:
        return _business_error(
            429,
            "Rate limit exceeded",
            rid,
            ["rate_limit"],
            **{"Retry-After": str(math.ceil(wait_s))},
        )

    def _admit(self, body: dict[str, Any], model: str, rid: str) -> str:
        """Count the request against the first model (or fallback) with quota left."""
        now = time.monotonic()
        candidates = [model] + [
            f["model"]
            for f in body.get("fallbacks") or []
            if isinstance(f, dict) and f.get("model") in self.config.models
        ]
        waits = []
        for candidate in candidates:
            wait = self._window_wait(candidate, now)
            if wait <= 0:
                self.windows[candidate].append(now)
                self.stats.accepted_at[candidate].append(now)
                return candidate
            waits.append(wait)
        raise _Failure(self._throttled(rid, min(waits)), model)

    def _latency(self) -> float:
        cfg = self.config
        if cfg.latency_jitter_s <= 0:
            return cfg.latency_s
        if cfg.latency_dist == "exponential":
            return cfg.latency_s + self.rng.expovariate(1.0 / cfg.latency_jitter_s)
        return cfg.latency_s + self.rng.uniform(0.0, cfg.latency_jitter_s)

    def _reply(
        self, body: dict[str, Any], messages: list[dict[str, Any]], rid: str
    ) -> tuple[str, str, int]:
        """(task, reply, number of fabricated statements)."""
        system = "\n".join(text_of(m.get("content")) for m in messages if m.get("role") == "system")
        user = text_of(messages[-1].get("content")) if messages else ""
        if SUMMARY_MARKER in system:
            return "summary", summary_answer(user, fabricate=self.config.summary_fabricate), 0
        if SOAP_MARKER not in system:
            task, text = answer(system, user, fabricate=self.config.fabricate)
            return task, text, 0
        self.soap_served += 1
        drop = "Plan" if self.soap_served <= self.config.soap_malformed else None
        fmt = body.get("response_format")
        structured = isinstance(fmt, dict) and fmt.get("type") == "json_schema"
        structured = structured and not self.config.soap_ignore_schema
        # The same request fabricates the same statements (seeded by its transcript).
        digest = hashlib.sha256(f"{self.config.seed}:{user}".encode()).hexdigest()
        text, made = soap_answer(
            user,
            structured=structured,
            drop_section=drop,
            fabricate_share=self.config.soap_fabricate_share,
            rng=random.Random(digest),
            restate=self.config.soap_paraphrase,
        )
        if made:
            records = [{"request_id": rid, **f.record()} for f in made]
            self.stats.fabrications.extend(records)
            if self.config.fabrication_log is not None:
                with self.config.fabrication_log.open("a", encoding="utf-8") as fh:
                    fh.writelines(json.dumps(r) + "\n" for r in records)
        return "soap", text, len(made)

    def _completion(
        self, body: dict[str, Any], model: str, messages: list[dict[str, Any]], rid: str
    ) -> JSONResponse:
        task, text, fabricated = self._reply(body, messages, rid)
        self.stats.tasks[task] += 1
        self.stats.recent.append(body)
        max_tokens = int(body.get("max_tokens", 1000))
        finish = "stop"
        if math.ceil(len(text) / 4) > max_tokens:
            text, finish = text[: max_tokens * 4], "length"
        prompt_tokens = math.ceil(sum(len(text_of(m.get("content"))) for m in messages) / 4)
        completion_tokens = math.ceil(len(text) / 4)
        usage = {
            "input_tokens": prompt_tokens,
            "output_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
        }
        echo = {k: v for k, v in body.items() if k not in ("messages", "prompt")}
        return JSONResponse(
            {
                "id": f"chatcmpl-{rid}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": model,
                "request_id": rid,
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": text},
                        "finish_reason": finish,
                    }
                ],
                "request": echo,
                "usage": usage,
                "http_status_code": 200,
                "response_time": 0,
                "llm_status_code": 200,
            },
            headers={"x-medscribe-fabrications": str(fabricated)} if fabricated else None,
        )


def build_app(config: LlmSimConfig | None = None, stats: LlmSimStats | None = None) -> Starlette:
    """The simulator as an ASGI app (config and stats objects are shared, not copied)."""
    return _Gateway(config or LlmSimConfig(), stats or LlmSimStats()).app()


class LlmSimulator:
    """A running simulator: ``base_url``, mutable ``config``, ``stats``; ``close()``."""

    def __init__(self, config: LlmSimConfig, host: str, port: int) -> None:
        self.config = config
        self.stats = LlmSimStats()
        self._server = AsgiServer(build_app(config, self.stats), host, port)
        self.host = host
        self._started = False

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self._server.port}"

    @property
    def port(self) -> int:
        return self._server.port

    async def start(self) -> LlmSimulator:
        if not self._started:
            await self._server.start()
            self._started = True
        return self

    async def close(self) -> None:
        await self._server.close()

    async def __aenter__(self) -> LlmSimulator:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


async def start_llm_simulator(
    config: LlmSimConfig | None = None, host: str = "127.0.0.1", port: int = 0
) -> LlmSimulator:
    return await LlmSimulator(config or LlmSimConfig(), host, port).start()
