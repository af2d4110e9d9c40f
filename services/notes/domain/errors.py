"""Why a staff operation on an encounter was refused, as types that each caller maps to
its own answer (the staff API: status codes, in ``api/errors.py``; the CLI: a sentence).

A message is one fixed sentence for the person who asked, never note or transcript text,
so it may be shown and logged (a ``MedscribeError``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from shared.errors import MedscribeError


class DomainError(MedscribeError):
    """A refused operation (the subclass says why)."""


class Refused(DomainError):
    """The encounter is not in a state that allows this (HTTP 409)."""


class NoNote(Refused):
    """The encounter has no note version yet."""


class NoteLocked(Refused):
    """The note is signed: never changed in place (an addendum amends it)."""


class NotSignedYet(Refused):
    """An addendum amends a signed note only."""


class CannotRegenerate(Refused):
    """The note cannot be written again now (signed, not done yet, nothing to write from)."""


class PurgeNeedsConfirmation(Refused):
    """The encounter holds a signed note and the caller did not say it may go."""


class FlagsNotAcknowledged(Refused):
    """High-severity flags of the version being signed were not acknowledged.

    ``statements`` are the stored evidence rows concerned, each with only its open high
    flags; empty when the caller acknowledges flags all at once (nothing to list).
    """

    def __init__(self, message: str, statements: Sequence[dict[str, Any]] = ()) -> None:
        super().__init__(message)
        self.statements = list(statements)


class NoteChanged(DomainError):
    """The note changed since the caller read it (HTTP 412). ``current`` is the version now
    current, when known (None: another writer took the new version number meanwhile)."""

    def __init__(self, message: str, current: int | None = None) -> None:
        super().__init__(message)
        self.current = current


class EmptyNote(DomainError):
    """An edit without a statement in any section (HTTP 422, on the sections)."""


class EncounterNotFound(DomainError, LookupError):
    """No encounter with this id (HTTP 404)."""
