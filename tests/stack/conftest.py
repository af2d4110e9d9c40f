"""The compose stack test is opt-in: it builds images and runs containers for minutes.
Select it with `-m stack` (as .ci/run does); the static compose checks always run."""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if "stack" in (config.getoption("-m") or ""):
        return
    skip = pytest.mark.skip(reason="compose stack test: run it with `pytest -m stack tests/stack`")
    for item in items:
        if item.get_closest_marker("stack") is not None:
            item.add_marker(skip)
