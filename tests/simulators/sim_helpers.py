"""Raw-WebSocket client helpers for the STT simulator protocol tests."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from simulators.codec import ScriptTurn, encode
from simulators.stt_server import SttSimulator

END_MARK_BYTES = 640  # one 20 ms symbol at 16 kHz


async def open_session(
    sim: SttSimulator, query: str = "speech_model=u3-rt-pro", key: str | None = "k1"
) -> ClientConnection:
    headers = {"Authorization": key} if key is not None else {}
    return await connect(f"{sim.url}?{query}", additional_headers=headers)


async def recv_json(ws: ClientConnection, timeout: float = 20) -> dict[str, Any]:
    async with asyncio.timeout(timeout):
        msg = await ws.recv()
    assert isinstance(msg, str)
    data: dict[str, Any] = json.loads(msg)
    return data


async def begin(ws: ClientConnection) -> dict[str, Any]:
    msg = await recv_json(ws)
    assert msg["type"] == "Begin", msg
    return msg


async def send_paced(ws: ClientConnection, pcm: bytes, scale: float, chunk_ms: int = 100) -> None:
    """Send 50-1000 ms chunks at `scale`x real time (last chunk zero-padded)."""
    size = 32 * chunk_ms
    t0 = time.monotonic()
    for i, start in enumerate(range(0, len(pcm), size)):
        delay = t0 + i * chunk_ms / 1000 / scale - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        await ws.send(pcm[start : start + size].ljust(size, b"\0"))


async def drain(ws: ClientConnection, timeout: float = 20) -> list[dict[str, Any]]:
    """Every message until the server closes the connection."""
    out: list[dict[str, Any]] = []
    try:
        async with asyncio.timeout(timeout):
            async for msg in ws:
                assert isinstance(msg, str)
                out.append(json.loads(msg))
    except ConnectionClosed:
        pass
    return out


async def terminate(ws: ClientConnection) -> list[dict[str, Any]]:
    await ws.send(json.dumps({"type": "Terminate"}))
    msgs = await drain(ws)
    assert msgs[-1]["type"] == "Termination"
    assert ws.close_code == 1000
    return msgs


async def expect_error(ws: ClientConnection, code: int) -> dict[str, Any]:
    msgs = await drain(ws)
    errors = [m for m in msgs if m["type"] == "Error"]
    assert errors, msgs
    assert errors[-1]["error_code"] == code
    assert ws.close_code == code
    return errors[-1]


def turns(msgs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [m for m in msgs if m["type"] == "Turn"]


def finals(msgs: list[dict[str, Any]]) -> list[str]:
    return [m["transcript"] for m in turns(msgs) if m["end_of_turn"]]


def unfinished_turn(speaker: str, text: str, silence_ms: int) -> bytes:
    """A turn without the codec's end mark (the speaker trailed off), then silence."""
    pcm = encode([ScriptTurn(speaker, text, pause_ms=0)])[:-END_MARK_BYTES]
    return pcm + bytes(32 * silence_ms)
