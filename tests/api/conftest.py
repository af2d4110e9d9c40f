"""Fixtures of the staff API tests: a real database, a real Redis, the real app."""

# The staff API's fixtures live in the kit: tests/console and tests/security use them too.
from tests.kit.api_fixtures import (  # noqa: F401
    any_db_url,
    app,
    client,
    db,
    settings,
    sqlite_url,
    tokens,
)
