"""What a session's end means for the encounter: a pure mapping from close/error codes
(assemblyai-protocol.md §4 and §9.4) to the bridge's next step.

The code decides; the reason text is only a hint, because the service rewords it. Only
1008 (used for a bad key, an account problem and the new-session rate limit alike) and
codes not in the docs look at the text, and a 1008 whose text says neither is retried a
few times like a rate limit before the encounter fails (``Next.REFUSED``).
"""

from __future__ import annotations

import re
from enum import Enum


class Next(Enum):
    FINISHED = "finished"  # Termination after our Terminate: done
    ROTATE = "rotate"  # session cap (3008) or proactive rotation: new session at once
    TRANSIENT = "transient"  # drop, server error: reconnect with backoff
    RATE_LIMIT = "rate_limit"  # new-session limit: back off longer
    REFUSED = "refused"  # 1008 with a reason we cannot place: back off, fail if it persists
    BUG = "bug"  # our chunking/message bug (3006/3007): log loudly, retry once
    FATAL = "fatal"  # bad key, no balance, bad URL: fail the encounter, keep audio
    STOPPED = "stopped"  # this replica stops (handback, lease lost)


# v3 codes (§4.1), legacy v2-era codes the SDKs still map (§4.2), WebSocket codes (RFC 6455).
TRANSIENT_CODES = frozenset(
    {1000, 1001, 1006, 1010, 1011, 1012, 1013, 1014, 3005, 4004, 4010, 4030, 4031, 4103}
)
BUG_CODES = frozenset(
    {1002, 1003, 1007, 1009, 3006, 3007, 4000, 4029, 4032, 4033, 4034, 4100, 4101, 4104}
)
ROTATE_CODES = frozenset({3008, 4008})
RATE_LIMIT_CODES = frozenset({3009, 4102})
FATAL_CODES = frozenset({4001, 4002, 4003})
DOCUMENTED = TRANSIENT_CODES | BUG_CODES | ROTATE_CODES | RATE_LIMIT_CODES | FATAL_CODES | {1008}

_RATE_HINT = re.compile(r"too many|concurren|rate.?limit|per minute|limit exceeded|throttl")
_AUTH_HINT = re.compile(
    r"api.?key|authori[sz]ation header|token|balance|fund|credit|disabled|suspend|"
    r"payment|billing|forbidden|not allowed|permission"
)
_EXPIRED_HINT = re.compile(r"session expired|maximum session duration")


def classify_close(code: int | None, error_text: str = "") -> Next:
    """Next step after the server closed (or sent Error with) ``code``."""
    text = error_text.lower()
    if code in ROTATE_CODES:
        return Next.ROTATE
    if code in RATE_LIMIT_CODES:
        return Next.RATE_LIMIT
    if code in BUG_CODES:
        return Next.BUG
    if code in FATAL_CODES:
        return Next.FATAL
    if code in TRANSIENT_CODES or code is None:
        return Next.TRANSIENT
    # 1008 and undocumented codes: the text is the only hint there is.
    if _RATE_HINT.search(text):
        return Next.RATE_LIMIT
    if code == 1008:
        return Next.FATAL if _AUTH_HINT.search(text) else Next.REFUSED
    if _EXPIRED_HINT.search(text):
        return Next.ROTATE
    return Next.TRANSIENT  # an unknown code: retried, bounded by the reconnect cap


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
