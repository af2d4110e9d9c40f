"""Error answers: clear, consistent, never a 500 for client input, never patient data.

- Validation errors are 422 ``{"detail": [{"loc", "msg", "type"}]}``: FastAPI's shape
  without the ``input`` and ``ctx`` members, which would echo what was sent (a note text).
- HTTP errors are ``{"detail": "<one sentence>"}``; a refused domain operation
  (``services.notes.domain.errors``) is one of them, its status code chosen by its type.
- A database that is down or locked is 503 (try again), not 500.
- Anything else is a 500 with a fixed sentence; the log gets the exception type and
  location only (shared.logging never renders the message).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from redis.exceptions import RedisError
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

from services.notes.api.queries import BadQuery
from services.notes.api.schemas import ErrorBody, StatementOut
from services.notes.domain.errors import (
    DomainError,
    EmptyNote,
    EncounterNotFound,
    FlagsNotAcknowledged,
    NoteChanged,
)
from shared.logging import get_logger

log = get_logger(__name__)


class DetailedHTTPException(HTTPException):
    """An HTTP error whose body carries more than the sentence (e.g. the flags that stopped
    a signature). The extra members go only to the caller, never into a log."""

    def __init__(self, status_code: int, detail: str, extra: dict[str, Any]) -> None:
        super().__init__(status_code, detail)
        self.extra = extra


def note_etag(version: int) -> str:
    """The ETag of a note version (sent back in If-Match to change or sign it)."""
    return f'"v{version}"'


def _statements(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Evidence rows as StatementOut; a row that does not fit the shape is left out."""
    out: list[dict[str, Any]] = []
    for row in rows:
        try:
            out.append(StatementOut.model_validate(row).model_dump(mode="json"))
        except ValueError:
            log.warning("evidence_row_invalid")
    return out


def http_error(err: DomainError) -> HTTPException | RequestValidationError:
    """The answer to a refused domain operation: 412 for a stale version (with the
    current ETag when known), 422 for an empty note, 404 for an unknown encounter, 409
    for every other refusal (with the unacknowledged flags when there is a list)."""
    if isinstance(err, NoteChanged):
        headers = {"ETag": note_etag(err.current)} if err.current is not None else None
        return HTTPException(412, str(err), headers=headers)
    if isinstance(err, EmptyNote):
        where = ("body", "sections")
        return RequestValidationError([{"loc": where, "msg": str(err), "type": "value_error"}])
    if isinstance(err, EncounterNotFound):
        return HTTPException(404, str(err))
    if isinstance(err, FlagsNotAcknowledged) and err.statements:
        return DetailedHTTPException(409, str(err), {"flags": _statements(err.statements)})
    return HTTPException(409, str(err))


def _clean_errors(errors: Any) -> list[dict[str, Any]]:
    cleaned = []
    for e in list(errors)[:20]:
        cleaned.append(
            {
                "loc": [p if isinstance(p, (str, int)) else str(p) for p in e.get("loc", ())],
                "msg": str(e.get("msg", "invalid value"))[:300],
                "type": str(e.get("type", "value_error")),
            }
        )
    return cleaned


async def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return JSONResponse(status_code=422, content={"detail": _clean_errors(exc.errors())})


async def _bad_query(_request: Request, exc: Exception) -> JSONResponse:
    detail = [{"loc": ["query"], "msg": str(exc), "type": "value_error"}]
    return JSONResponse(status_code=422, content={"detail": detail})


async def _http_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 400:
        # FastAPI's answer to a body it cannot decode; our routes never raise 400.
        detail_list = [{"loc": ["body"], "msg": "body is not valid JSON", "type": "json_invalid"}]
        return JSONResponse(status_code=422, content={"detail": detail_list})
    detail = exc.detail if isinstance(exc.detail, str) else "request failed"
    extra = exc.extra if isinstance(exc, DetailedHTTPException) else {}
    return JSONResponse(
        status_code=exc.status_code, content={**extra, "detail": detail}, headers=exc.headers
    )


async def _domain_error(request: Request, exc: Exception) -> JSONResponse:
    # Routes convert refusals inside ``audited`` (so they are audited); this catches the rest.
    assert isinstance(exc, DomainError)
    answer = http_error(exc)
    if isinstance(answer, RequestValidationError):
        return await _validation_error(request, answer)
    return await _http_error(request, answer)


async def _unavailable(_request: Request, exc: Exception) -> JSONResponse:
    log.warning("api_dependency_unavailable", error=type(exc).__name__)
    return JSONResponse(
        status_code=503,
        content={"detail": "the database or Redis is unavailable; try again shortly"},
        headers={"Retry-After": "2"},
    )


async def _database_error(request: Request, exc: Exception) -> JSONResponse:
    # Connection loss and lock timeouts are transient; anything else is our bug.
    if isinstance(exc, OperationalError) or getattr(exc, "connection_invalidated", False):
        return await _unavailable(request, exc)
    return await _internal(request, exc)


async def _internal(_request: Request, exc: Exception) -> JSONResponse:
    log.error("api_internal_error", exc_info=exc)
    return JSONResponse(status_code=500, content={"detail": "internal error"})


def install(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(BadQuery, _bad_query)
    app.add_exception_handler(DomainError, _domain_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(PoolTimeout, _unavailable)
    app.add_exception_handler(RedisError, _unavailable)
    app.add_exception_handler(DBAPIError, _database_error)
    app.add_exception_handler(Exception, _internal)


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses=`` entries for the error codes a route can answer."""
    text = {
        401: "No or an unknown API token.",
        403: "The token's role may not do this.",
        404: "No such encounter.",
        409: "The encounter is not in a state that allows this.",
        412: "If-Match does not name the current note version.",
        413: "Request body too large.",
        428: "If-Match header required.",
        429: "Too many requests (open live streams, failed sign-ins); see Retry-After.",
        503: "Database or Redis unavailable.",
    }
    return {c: {"model": ErrorBody, "description": text.get(c, "Error.")} for c in (*codes, 503)}
