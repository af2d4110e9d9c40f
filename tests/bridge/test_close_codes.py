"""Close codes decide, reason text only hints (issue 21, point 4): every documented code
and reason (assemblyai-protocol.md §4.1/§4.2), reworded reasons and unknown codes."""

from __future__ import annotations

from typing import Any

import pytest

from services.stt_bridge.closes import DOCUMENTED, Next, classify_close
from shared.acibench import Dialogue
from shared.contracts import EncounterFailed, EncounterTranscribed, StreamNames
from simulators.codec import script_from_dialogue
from simulators.stt_server import SttSimulator
from tests.bridge.helpers import (
    bridge_settings,
    play_encounter,
    running_bridge,
    script_audio,
    script_turns,
    turns_of,
    wait_for_outcome,
)

V3_DOCUMENTED = [  # §4.1, reason texts as the docs give them
    (1000, "normal", Next.TRANSIENT),  # without our Terminate/Termination: reconnect
    (1008, "Unauthorized Connection: Missing Authorization header", Next.FATAL),
    (1008, "Unauthorized Connection: Invalid API key", Next.FATAL),
    (1008, "Unauthorized Connection: insufficient balance", Next.FATAL),
    (1008, "Unauthorized Connection: account temporarily disabled", Next.FATAL),
    (1008, "Unauthorized Connection: Too many concurrent sessions", Next.RATE_LIMIT),
    (3005, "Session Cancelled: An error occurred", Next.TRANSIENT),
    (3006, "Invalid Message Type: Foo", Next.BUG),
    (3006, "Invalid JSON: {", Next.BUG),
    (3006, "Invalid Message: []", Next.BUG),
    (3007, "Input duration violation: 20 ms. Expected between 50 and 1000 ms", Next.BUG),
    (3007, "Audio Transmission Rate Exceeded: Received 40 sec. audio in 10 sec", Next.BUG),
    (3008, "Session Expired: Maximum session duration exceeded", Next.ROTATE),
    (3009, "Unauthorized Connection: Too many concurrent sessions", Next.RATE_LIMIT),
]
LEGACY = {  # §4.2
    4000: Next.BUG, 4001: Next.FATAL, 4002: Next.FATAL, 4003: Next.FATAL,
    4004: Next.TRANSIENT, 4008: Next.ROTATE, 4010: Next.TRANSIENT, 4029: Next.BUG,
    4030: Next.TRANSIENT, 4031: Next.TRANSIENT, 4032: Next.BUG, 4033: Next.BUG,
    4034: Next.BUG, 4100: Next.BUG, 4101: Next.BUG, 4102: Next.RATE_LIMIT,
    4103: Next.TRANSIENT, 4104: Next.BUG, 1013: Next.TRANSIENT,
}  # fmt: skip
REWORDED = [
    "See Error message for details", "", "Session Cancelled", "Unauthorized Connection",
    "Too many concurrent sessions", "Invalid API key", "insufficient balance",
]  # fmt: skip


@pytest.mark.parametrize(("code", "text", "expected"), V3_DOCUMENTED)
def test_documented_v3_reasons(code: int, text: str, expected: Next) -> None:
    assert classify_close(code, text) is expected
    assert classify_close(code, text.upper()) is expected  # case is no signal


@pytest.mark.parametrize(("code", "expected"), sorted(LEGACY.items()))
def test_legacy_codes(code: int, expected: Next) -> None:
    assert classify_close(code, "") is expected


@pytest.mark.parametrize("code", sorted(DOCUMENTED - {1008}))
@pytest.mark.parametrize("text", REWORDED)
def test_code_decides_whatever_the_text(code: int, text: str) -> None:
    assert classify_close(code, text) is classify_close(code, "")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Unauthorized Connection: concurrency limit reached", Next.RATE_LIMIT),
        ("Rate limit exceeded for new sessions", Next.RATE_LIMIT),
        ("Unauthorized Connection: API key revoked", Next.FATAL),
        ("Unauthorized Connection: token expired", Next.FATAL),
        ("Unauthorized Connection: payment required", Next.FATAL),
        ("Unauthorized Connection", Next.REFUSED),  # neither: retried a few times, then fatal
        ("See Error message for details", Next.REFUSED),
        ("", Next.REFUSED),
    ],
)
def test_1008_reworded(text: str, expected: Next) -> None:
    assert classify_close(1008, text) is expected


@pytest.mark.parametrize(
    ("code", "text", "expected"),
    [
        (3010, "", Next.TRANSIENT),
        (4999, "", Next.TRANSIENT),
        (3999, "Too many new sessions per minute", Next.RATE_LIMIT),
        (3011, "Session expired: maximum session duration reached", Next.ROTATE),
        (None, "", Next.TRANSIENT),
    ],
)
def test_unknown_codes(code: int | None, text: str, expected: Next) -> None:
    assert classify_close(code, text) is expected


async def test_reworded_rate_limit_is_not_fatal(
    redis: Any, redis_url: str, names: StreamNames, sim: SttSimulator, short_dialogue: Dialogue
) -> None:
    """Old code failed the visit on a 1008 that did not say "too many"/"concurrent"."""
    sim.config.drop_every_s = 10.0
    sim.config.new_sessions_per_min = 2
    sim.config.rate_limit_text = "Unauthorized Connection: New session quota reached"
    pcm = script_audio(script_from_dialogue(short_dialogue))
    async with running_bridge(bridge_settings(redis_url, names, sim.url, refused_retries=20)):
        await play_encounter(redis, names, "rw-1", pcm)
        out = await wait_for_outcome(redis, names, ["rw-1"], timeout=90)
    assert isinstance(out["rw-1"], EncounterTranscribed)
    turns = await turns_of(redis, names, "rw-1")
    assert [t.text for t in turns] == [t.text for t in short_dialogue.turns]
    assert sim.stats.sessions_rejected >= 1


async def test_unplaceable_1008_retried_then_failed(
    redis: Any, redis_url: str, names: StreamNames, sim: SttSimulator
) -> None:
    sim.config.new_sessions_per_min = 0  # every session refused, with an unplaceable reason
    sim.config.rate_limit_text = "Unauthorized Connection"
    pcm = script_audio(script_turns([("doctor", "Any pain today?")]))
    settings = bridge_settings(redis_url, names, sim.url, refused_retries=2)
    async with running_bridge(settings):
        await play_encounter(redis, names, "rf-1", pcm)
        out = await wait_for_outcome(redis, names, ["rf-1"], timeout=60)
    failed = out["rf-1"]
    assert isinstance(failed, EncounterFailed)
    assert "refused" in failed.reason
    assert "kept" in failed.reason
    assert sim.stats.sessions_rejected == 3  # the first try and two retries
