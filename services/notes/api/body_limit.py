"""The request body limit, enforced by the project itself (any FastAPI/Starlette version).

A declared ``Content-Length`` above the limit is answered 413 before anything is read; a
body without one (chunked, streamed) is counted while the app reads it and refused with
413 as soon as it passes the limit, so no route ever holds more than the limit in memory.
"""

from __future__ import annotations

from fastapi import HTTPException
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.notes.api.asgi import HttpMiddleware

TOO_LARGE = "request body too large"


class BodyTooLarge(HTTPException):
    """Raised from ``receive`` while a route reads an oversized body (answered 413).

    A ``fastapi.HTTPException``: FastAPI re-raises those from its body reader unchanged
    (any other exception there would become a 400).
    """

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"{TOO_LARGE} (at most {limit} bytes)")


def declared_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


# Bodies up to this size are read and dropped before the 413 (never held in memory).
DRAIN_MAX_BYTES = 16 * 1024 * 1024


async def _drain(receive: Receive) -> None:
    while True:
        message = await receive()
        if message["type"] != "http.request" or not message.get("more_body", False):
            return


class BodyLimitMiddleware(HttpMiddleware):
    """Refuses bodies above ``max_bytes`` with 413 (module docstring: how)."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        super().__init__(app)
        self.max_bytes = max_bytes

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        declared = declared_length(scope)
        if declared is not None and declared > self.max_bytes:
            detail = f"{TOO_LARGE} (at most {self.max_bytes} bytes)"
            if declared <= DRAIN_MAX_BYTES:
                # Most clients send the whole body before they read the answer: read and
                # drop it, so they see the 413 instead of a reset connection.
                await _drain(receive)
            # Connection: close, since the unread body is still on the wire.
            response = JSONResponse(
                {"detail": detail}, status_code=413, headers={"Connection": "close"}
            )
            await response(scope, receive, send)
            return
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise BodyTooLarge(self.max_bytes)
            return message

        await self.app(scope, limited, send)
