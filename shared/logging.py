"""Structured logging that cannot leak PHI.

Only allow-listed keys are rendered with their values; anything else is rendered as
``<redacted len=N>``. Event names must look like identifiers (``turn_published``): an event
string that looks like free text (e.g. an f-string with a transcript in it) is replaced.
Exceptions are rendered as type and location only, never their message, unless the
exception class declares ``phi_safe = True``. Third-party loggers that print frames or
request bodies at DEBUG (websockets, httpx, httpcore) are pinned to WARNING.
"""

from __future__ import annotations

import logging
import re
import sys
import traceback
from collections.abc import MutableMapping
from typing import Any

import structlog

# Keys whose values are safe to show: identifiers, codes, counts, timings. Never text.
ALLOWED_KEYS = frozenset(
    {
        "event", "level", "timestamp", "logger", "service", "exception",
        "encounter_id", "session_id", "stt_session_id", "request_id", "seq", "turn_order",
        "stream", "group", "consumer", "entry_id", "room", "clinician_id", "model", "llm_model",
        "speech_model", "status", "status_code", "code", "close_code", "reason", "error",
        "attempt", "attempts", "retry_in_s", "delay_s", "duration_ms", "elapsed_ms", "latency_ms",
        "count", "turn_count", "deliveries", "frames", "frame_seq", "last_frame_seq", "bytes",
        "audio_ms", "offset_ms", "lag_ms", "backlog", "port", "host", "path", "method", "url",
        "pid", "version", "role", "token_id", "note_id", "note_version", "edit_status",
        "workers", "replicas", "lease_ms", "expires_at", "stage", "kind", "name", "file",
        "spool_bytes", "budget_bytes", "chars", "words", "turns", "missing", "rate", "limit",
        "state", "action", "target", "user", "ok", "dependency", "database", "dialect", "cpu_ms",
        "replicas_wanted", "replicas_acked", "timeout_ms",
    }
)  # fmt: skip

_EVENT_RE = re.compile(r"^[A-Za-z0-9_.:\-/ ]{1,120}$")
# Loggers whose free-text messages are known to carry no content (uvicorn's access log,
# which would show query strings, is switched off where uvicorn is started).
_TRUSTED_TEXT_LOGGERS = ("uvicorn.error", "alembic.runtime")
_LOUD_LIBRARIES = ("websockets", "httpx", "httpcore", "hpack", "asyncio", "aiosqlite")


def _redact_value(value: Any) -> str:
    if isinstance(value, (str, bytes)):
        return f"<redacted len={len(value)}>"
    return "<redacted>"


def _safe_exception(exc: BaseException) -> str:
    parts: list[str] = []
    current: BaseException | None = exc
    while current is not None and len(parts) < 5:
        tb = traceback.extract_tb(current.__traceback__)[-3:]
        where = " <- ".join(f"{f.filename.rsplit('/', 1)[-1]}:{f.lineno}" for f in reversed(tb))
        text = type(current).__name__
        if getattr(current, "phi_safe", False):
            text += f": {current}"
        parts.append(f"{text} at {where}" if where else text)
        current = current.__cause__ or (
            None if current.__suppress_context__ else current.__context__
        )
    return " | caused by ".join(parts)


def phi_filter(_logger: Any, _name: str, event_dict: MutableMapping[str, Any]) -> Any:
    """structlog processor: allow-list keys, sanitise the event and exceptions."""
    exc_info = event_dict.pop("exc_info", None)
    if exc_info:
        if exc_info is True:
            exc_info = sys.exc_info()
        exc = exc_info[1] if isinstance(exc_info, tuple) else exc_info
        if isinstance(exc, BaseException):
            event_dict["exception"] = _safe_exception(exc)
    event = event_dict.get("event")
    trusted = str(event_dict.get("logger", "")).startswith(_TRUSTED_TEXT_LOGGERS)
    if trusted and isinstance(event, str) and len(event) < 300:
        pass  # server start-up lines (uvicorn, alembic) carry no patient data
    elif not isinstance(event, str) or not _EVENT_RE.match(event):
        event_dict["event"] = "<redacted-event>"
    for key in list(event_dict):
        if key in ALLOWED_KEYS or key.startswith("_"):
            continue
        event_dict[key] = _redact_value(event_dict[key])
    for key in ("error", "reason"):  # allowed, but must be short codes, not text blobs
        value = event_dict.get(key)
        if isinstance(value, str) and len(value) > 200:
            event_dict[key] = value[:200] + "…"
    return event_dict


def _drop_positional(_logger: Any, _name: str, event_dict: MutableMapping[str, Any]) -> Any:
    # stdlib %-style args could carry anything; we never render them.
    event_dict.pop("positional_args", None)
    return event_dict


def configure_logging(
    level: str = "INFO", fmt: str = "auto", service: str = "medscribe", stream: Any = None
) -> None:
    """Configure structlog and the stdlib root logger once per process."""
    out = stream if stream is not None else sys.stderr
    if fmt == "auto":
        fmt = "console" if getattr(out, "isatty", lambda: False)() else "json"
    renderer: Any = (
        structlog.dev.ConsoleRenderer(colors=False)
        if fmt == "console"
        else structlog.processors.JSONRenderer()
    )
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _drop_positional,
    ]
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            phi_filter,
            renderer,
        ],
    )
    handler = logging.StreamHandler(out)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    for name in _LOUD_LIBRARIES:
        logging.getLogger(name).setLevel(logging.WARNING)
    structlog.contextvars.bind_contextvars(service=service)


def get_logger(name: str) -> Any:
    return structlog.stdlib.get_logger(name)
