"""Fixtures of the security tests (issue 20): the real staff API app, database and Redis."""

# The staff API's fixtures: settings, db, app, client (ASGI), tokens.
from tests.kit.api_fixtures import app, client, db, settings, sqlite_url, tokens  # noqa: F401
