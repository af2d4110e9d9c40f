"""Fixtures of the security tests (issue 20): the real staff API app, database and Redis."""

from __future__ import annotations

# The staff API's fixtures: settings, db, app, client (ASGI), tokens.
from tests.api.conftest import app, client, db, settings, sqlite_url, tokens  # noqa: F401
from tests.console.conftest import csrf_of, sign_in  # noqa: F401
