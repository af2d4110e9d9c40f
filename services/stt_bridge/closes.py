"""What a session's end means for the encounter: a pure mapping from close/error codes
(assemblyai-protocol.md §4 and §9.4) to the bridge's next step."""

from __future__ import annotations

from enum import Enum


class Next(Enum):
    FINISHED = "finished"  # Termination after our Terminate: done
    ROTATE = "rotate"  # session cap (3008) or proactive rotation: new session at once
    TRANSIENT = "transient"  # drop, server error: reconnect with backoff
    RATE_LIMIT = "rate_limit"  # new-session limit: back off longer
    BUG = "bug"  # our chunking/message bug (3006/3007): log loudly, retry once
    FATAL = "fatal"  # bad key, no balance, bad URL: fail the encounter, keep audio
    STOPPED = "stopped"  # this replica stops (handback, lease lost)


TRANSIENT_CODES = frozenset({1001, 1006, 1011, 1012, 1013, 1014, 3005, 4031})
BUG_CODES = frozenset({3006, 3007, 4029, 4032, 4033, 4034, 4100, 4101})
RATE_LIMIT_CODES = frozenset({3009, 4102})
FATAL_CODES = frozenset({4001, 4002, 4003})


def classify_close(code: int | None, error_text: str = "") -> Next:
    """Next step after the server closed (or sent Error with) ``code``."""
    if code == 3008 or code == 4008:
        return Next.ROTATE
    if code == 1008:
        text = error_text.lower()
        if "too many" in text or "concurrent" in text:
            return Next.RATE_LIMIT
        return Next.FATAL
    if code in RATE_LIMIT_CODES:
        return Next.RATE_LIMIT
    if code in BUG_CODES:
        return Next.BUG
    if code in FATAL_CODES:
        return Next.FATAL
    return Next.TRANSIENT  # 1000 without Termination, 1006, 1011, 1013, 3005, unknown


def classify_handshake(status: int) -> Next:
    """Next step after an HTTP rejection of the WebSocket upgrade."""
    if status in (401, 402, 403, 400, 404):
        return Next.FATAL
    if status == 429:
        return Next.RATE_LIMIT
    return Next.TRANSIENT


def fatal_reason(code: int | None, error_text: str) -> str:
    """Operator-facing reason for EncounterFailed (server text is a status line, not PHI)."""
    text = " ".join(error_text.split())[:160] or "no error text"
    what = {
        1008: "AssemblyAI refused the session (API key invalid, balance insufficient or "
        "account disabled)",
        4001: "AssemblyAI: not authorized",
        4002: "AssemblyAI: insufficient funds",
        4003: "AssemblyAI: free tier, credit card required",
        401: "AssemblyAI rejected the API key (HTTP 401)",
        403: "AssemblyAI refused access (HTTP 403)",
        404: "streaming URL not found (HTTP 404); check MEDSCRIBE_STREAMING_URL",
        400: "AssemblyAI rejected the connection parameters (HTTP 400)",
    }.get(code or 0, f"AssemblyAI closed the session with code {code}")
    return f"stt_rejected: {what}: {text}. Audio is kept for a later pass."[:500]
