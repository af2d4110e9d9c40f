"""Fixtures of the web console tests: the staff API app (real database, real Redis) and a
headless browser (signing in and layout checks: ``tests.kit.console``)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.procs import REPO_ROOT

# The staff API's fixtures: settings, db, app, client (ASGI), tokens.
from tests.kit.api_fixtures import app, client, db, settings, sqlite_url, tokens  # noqa: F401
from tests.kit.console import find_chromium


# Module scope: Playwright's sync API keeps an event loop running while it is open, and
# the asyncio tests of other modules need it closed.
@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    executable = find_chromium()
    if executable is None:
        pytest.skip("no Chromium found (Debian: apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=executable, headless=True)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    configured = os.environ.get("MEDSCRIBE_SCREENSHOTS")
    folder = (REPO_ROOT / configured) if configured else tmp_path_factory.mktemp("shots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder
