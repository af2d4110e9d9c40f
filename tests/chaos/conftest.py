"""Chaos suite: the soak switch and each scenario's row (the table is printed and written by
the hooks in tests/conftest.py, which the pytest-xdist controller loads too)."""

from __future__ import annotations

import pytest

from tests.chaos import report as summary


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--soak"):
        return
    skip = pytest.mark.skip(reason="soak variant: run with --soak")
    for item in items:
        if "soak" in item.keywords:
            item.add_marker(skip)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    for row in summary.ROWS:
        if row.nodeid == report.nodeid and (report.when == "call" or report.failed):
            row.outcome = "failed" if report.failed else "passed"


@pytest.fixture
def row(request: pytest.FixtureRequest) -> summary.Row:
    """This scenario's line of the summary table."""
    name = request.node.name.removeprefix("test_").replace("_", " ")
    return summary.new_row(name, request.node.nodeid)
