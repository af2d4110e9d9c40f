"""One base for the exceptions whose message may be logged and shown (no PHI in it)."""

from __future__ import annotations

import pytest

from services.capture.config import KeytermError
from services.capture.menu import MenuCancelled
from services.capture.sources import MicUnavailable, SourceError
from services.capture.spool import SpoolFull
from shared.contracts import MalformedEntry
from shared.errors import MedscribeError
from shared.gateway import GatewayAuthError, GatewayError, GatewayRejected, GatewayUnavailable
from shared.logging import _safe_exception
from shared.readiness import NotReady
from shared.redis_acl import PermissionsMissing
from shared.rooms import RoomNameError
from shared.settings import ClusterUnreachable, MissingSetting
from shared.streams import PoisonEntry

PHI_SAFE = [
    GatewayError,
    GatewayUnavailable,
    GatewayRejected,
    GatewayAuthError,
    PoisonEntry,
    MalformedEntry,
    MissingSetting,
    ClusterUnreachable,
    RoomNameError,
    NotReady,
    PermissionsMissing,
    SpoolFull,
    SourceError,
    MicUnavailable,
    KeytermError,
    MenuCancelled,
]


@pytest.mark.parametrize("cls", PHI_SAFE, ids=lambda c: c.__name__)
def test_phi_safe_errors_share_one_base(cls: type[Exception]) -> None:
    assert issubclass(cls, MedscribeError)
    assert getattr(cls, "phi_safe", False) is True


@pytest.mark.parametrize("cls", [MalformedEntry, RoomNameError, KeytermError])
def test_value_errors_stay_value_errors(cls: type[Exception]) -> None:
    assert issubclass(cls, ValueError)  # callers catch them as such


def test_the_log_shows_the_message_of_a_medscribe_error_only() -> None:
    assert "unknown_room" in _safe_exception(PoisonEntry("unknown_room"))
    assert "secret words" not in _safe_exception(RuntimeError("secret words"))
