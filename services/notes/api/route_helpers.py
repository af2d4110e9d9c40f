"""What the authenticated routers share: the audited call of a request, the documented
answers of a route, and the query parameters several lists take."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Query, Request
from fastapi.exceptions import RequestValidationError

from services.notes.api.deps import (
    ApiContext,
    AuditedWork,
    Caller,
    Ctx,
    audited,
    audited_encounter,
    require,
)
from services.notes.api.errors import error_responses
from services.notes.api.schemas import SectionsOut
from services.notes.auth import Action, Principal

# Printable text only: a NUL or other control byte in a query is a 422, not a DB error.
PLAIN = r"^[^\x00-\x1f\x7f]+$"
PlainFilter = Annotated[str | None, Query(max_length=100, pattern=PLAIN)]
Cursor = Annotated[str | None, Query(max_length=300, pattern=r"^[A-Za-z0-9_-]+$")]

SECTION_KEYS = ("subjective", "objective", "assessment", "plan")


@dataclass(frozen=True)
class RouteCall:
    """One request of an authenticated caller, and the app context it runs in."""

    request: Request
    ctx: ApiContext
    who: Principal

    @asynccontextmanager
    async def allowed(
        self, action: Action, encounter_id: str | None = None
    ) -> AsyncIterator[AuditedWork]:
        """:func:`audited`, the block run once the role may do ``action`` (inside, so that
        a 403 is audited as a refusal too)."""
        async with audited(self.ctx, self.request, self.who, action, encounter_id) as work:
            require(self.who, action)
            yield work

    def on_encounter(
        self, action: Action, encounter_id: str
    ) -> AbstractAsyncContextManager[AuditedWork]:
        """:func:`audited_encounter`: also 404 unless the encounter is the caller's."""
        return audited_encounter(self.ctx, self.request, self.who, action, encounter_id)


async def route_call(request: Request, ctx: Ctx, who: Caller) -> RouteCall:
    return RouteCall(request, ctx, who)


Call = Annotated[RouteCall, Depends(route_call)]


def sections_out(sections: object) -> SectionsOut:
    """A stored SOAP sections object as shown (items as text; not a dict: all empty)."""
    stored = sections if isinstance(sections, dict) else {}
    return SectionsOut(**{k: [str(i) for i in stored.get(k) or []] for k in SECTION_KEYS})


def same_named(row: object, names: Iterable[str]) -> dict[str, Any]:
    """``row``'s attributes ``names``: for a schema that shows them as they are stored."""
    return {name: getattr(row, name) for name in names}


def offered(ctx: ApiContext, model: str | None) -> None:
    """422, like a body that failed validation, unless ``model`` (if named) is offered."""
    if model is not None and model not in ctx.allowed_models:
        allowed = ", ".join(sorted(ctx.allowed_models))
        raise RequestValidationError(
            [{"loc": ("body", "model"), "msg": f"must be one of: {allowed}", "type": "enum"}]
        )


def answers(
    model: Any, *errors: int, status_code: int | None = None, text: bool | str = False
) -> dict[str, Any]:
    """The documented answers of a route taking a :data:`Call`, as decorator arguments.

    401 and 403 are always among its errors (it authenticates and checks the role);
    ``errors`` are the others. ``text``: it also answers text/plain (``Accept``), a
    string describing the two forms.
    """
    responses: dict[int | str, dict[str, Any]] = {}
    if text:
        # A fresh dict per route: FastAPI merges these into the schema it builds.
        responses[200] = {"content": {"text/plain": {"schema": {"type": "string"}}}}
        if isinstance(text, str):
            responses[200]["description"] = text
    responses.update(error_responses(401, 403, *errors))
    out: dict[str, Any] = {"responses": responses}
    if model is not None:
        out["response_model"] = model
    if status_code is not None:
        out["status_code"] = status_code
    return out
