"""Helpers of the capture tests (imported as tests.capture.capture_helpers)."""

from __future__ import annotations

import asyncio

import redis.asyncio as aioredis

from services.capture.live_view import LiveView
from services.capture.publisher import WriterStatus
from shared.contracts import AudioFrame, EditedTurn, EncounterStarted, decode_audio


class RecordingView(LiveView):
    """A live view that remembers what it was shown (the test's eyes)."""

    def __init__(self) -> None:
        super().__init__()
        self.status: WriterStatus | None = None
        self.started_msg: EncounterStarted | None = None
        self.partials: list[str] = []
        self.turns: list[EditedTurn] = []
        self.errors: list[str] = []
        self.notices: list[str] = []
        self.ready = asyncio.Event()

    def started(self, msg: EncounterStarted, source: str, status: WriterStatus) -> None:
        self.started_msg = msg
        self.status = status
        self.ready.set()

    def partial(self, text: str) -> None:
        self.partials.append(text)

    def turn(self, turn: EditedTurn) -> None:
        self.turns.append(turn)

    def error(self, message: str) -> None:
        self.errors.append(message)

    def notice(self, message: str) -> None:
        self.notices.append(message)


async def read_frames(redis: aioredis.Redis, stream: str) -> list[tuple[str, AudioFrame]]:
    rows = await redis.xrange(stream)
    return [(eid.decode(), decode_audio(fields)) for eid, fields in rows]
