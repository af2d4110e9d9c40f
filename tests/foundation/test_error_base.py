"""Architecture: every exception class of the product derives from ``MedscribeError``.

A ``MedscribeError``'s message holds no PHI (ids, counts, classes, reason and status codes),
which is why ``shared.logging`` prints it. Every module of ``services``, ``shared`` and
``medscribe`` is imported and each exception class it defines is checked: it is a
``MedscribeError`` or it is in ``ALLOWED`` below, with the reason. A new plain
``class FooError(Exception)`` fails here: derive it from ``MedscribeError`` (keeping its other
base, e.g. ``class FooError(MedscribeError, ValueError)``) and keep its messages PHI-free.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import pkgutil

import pytest

from services.notes.api.fhir import FhirExportError
from services.notes.api.queries import BadQuery
from services.notes.db import common
from services.notes.db.engine import DatabaseUrlError
from services.notes.db.migrate import MigrationNeeded
from services.notes.passwords import PasswordRejected
from services.notes.soap_format import SoapFormatError
from services.notes.summary import SummaryFormatError
from services.stt_bridge.ledger import LedgerError
from shared.errors import MedscribeError
from shared.logging import _safe_exception

PACKAGES = ("services", "shared", "medscribe")

# Modules that cannot be imported on their own.
NOT_IMPORTABLE = frozenset(
    {
        # Alembic's migration environment: it runs a migration when alembic loads it.
        "services.notes.migrations.env",
    }
)

# Optional native dependencies (pyproject's extras): a module that needs one at import is
# skipped where it is missing; an ImportError naming any other module fails the test.
OPTIONAL_NATIVE = frozenset({"pyaudio"})

# Exception classes that are not MedscribeErrors, each with why.
ALLOWED = {
    # FastAPI's HTTPException: the framework answers it (status and detail) itself; its
    # detail is written for the client and checked where it is raised.
    "services.notes.api.body_limit.BodyTooLarge": "HTTPException subclass",
    "services.notes.api.errors.DetailedHTTPException": "HTTPException subclass",
    # Private control flow, raised without a message and caught in the same module.
    "medscribe.supervisor.scribe._Stopped": "stop signal inside `medscribe scribe`",
    "medscribe.supervisor.demo.Interrupted": "Ctrl+C inside `medscribe demo`",
}

# Known product errors: if the walk stopped finding these, it would pass having checked nothing.
EXPECTED = (
    "services.stt_bridge.ledger.LedgerError",
    "services.notes.db.common.VersionConflict",
    "services.notes.api.queries.BadQuery",
    "shared.gateway_types.GatewayError",
    "medscribe.supervisor.stack.StackError",
)


def _name(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


@functools.cache
def product_exceptions() -> tuple[dict[str, type[Exception]], tuple[str, ...]]:
    """Every exception class defined at the top of a product module, by qualified name;
    and the modules skipped for a missing optional native dependency."""
    found: dict[str, type[Exception]] = {}
    skipped: list[str] = []
    for package in PACKAGES:
        root = importlib.import_module(package)
        for info in pkgutil.walk_packages(root.__path__, f"{package}."):
            if info.name in NOT_IMPORTABLE:
                continue
            try:
                module = importlib.import_module(info.name)
            except ImportError as err:
                if (err.name or "").split(".")[0] in OPTIONAL_NATIVE:
                    skipped.append(info.name)
                    continue
                raise
            for obj in vars(module).values():
                if (
                    inspect.isclass(obj)
                    and issubclass(obj, Exception)
                    and obj.__module__ == module.__name__
                ):
                    found[_name(obj)] = obj
    return found, tuple(skipped)


def test_every_product_exception_is_a_medscribe_error() -> None:
    found, _ = product_exceptions()
    assert set(EXPECTED) <= set(found), "the module walk missed known errors"
    plain = sorted(
        name
        for name, cls in found.items()
        if not issubclass(cls, MedscribeError) and name not in ALLOWED
    )
    assert not plain, (
        "derive these from shared.errors.MedscribeError (keeping their other bases) and keep "
        f"their messages free of PHI, or add them to ALLOWED with the reason: {plain}"
    )


def test_the_allow_list_holds_only_existing_non_medscribe_errors() -> None:
    found, skipped = product_exceptions()
    for name in ALLOWED:
        if name.rsplit(".", 1)[0] in skipped:
            continue
        assert name in found, f"{name} is gone: remove it from ALLOWED"
        assert not issubclass(found[name], MedscribeError), f"{name} needs no allowance now"


@pytest.mark.parametrize(
    ("cls", "base"),
    [
        (PasswordRejected, ValueError),
        (BadQuery, ValueError),
        (FhirExportError, ValueError),
        (SummaryFormatError, ValueError),
        (SoapFormatError, ValueError),
        (DatabaseUrlError, ValueError),
        (common.NotFound, LookupError),
        (common.VersionConflict, RuntimeError),
        (common.InvalidTransition, RuntimeError),
        (common.NotSigned, RuntimeError),
        (common.LeaseLost, RuntimeError),
        (MigrationNeeded, RuntimeError),
    ],
    ids=lambda c: c.__name__,
)
def test_errors_keep_the_base_their_callers_catch(cls: type[Exception], base: type) -> None:
    assert issubclass(cls, MedscribeError)
    assert issubclass(cls, base)  # `except ValueError` and the like still catch them


def test_the_log_shows_a_medscribe_errors_message() -> None:
    shown = _safe_exception(LedgerError("bridge ledger /data/l.sqlite3: DatabaseError SQLITE_BUSY"))
    assert shown.startswith("LedgerError: bridge ledger /data/l.sqlite3: DatabaseError SQLITE_BUSY")


def test_no_medscribe_error_turns_its_message_off() -> None:
    found, _ = product_exceptions()
    hidden = [n for n, c in found.items() if issubclass(c, MedscribeError) and not c.phi_safe]
    assert not hidden, f"a MedscribeError's message is PHI-safe by definition: {hidden}"
