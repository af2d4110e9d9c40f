"""The room-machine install test is opt-in: it builds the wheel and installs it, with all
its dependencies, into a fresh venv (a minute or more). Select it with `-m install`, as
.ci/run does."""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if "install" in (config.getoption("-m") or ""):
        return
    why = "room install test: run it with `pytest -m install tests/install`"
    skip = pytest.mark.skip(reason=why)
    for item in items:
        if item.get_closest_marker("install") is not None:
            item.add_marker(skip)
