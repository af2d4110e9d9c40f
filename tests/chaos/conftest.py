"""Chaos suite: the soak switch, and the summary table printed at the end of the session
(also written to docs/reliability.md)."""

from __future__ import annotations

import pytest
from _pytest.terminal import TerminalReporter

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


def pytest_terminal_summary(terminalreporter: TerminalReporter, config: pytest.Config) -> None:
    if not summary.ROWS:
        return
    terminalreporter.section("chaos summary")
    for line in summary.table(summary.ROWS):
        terminalreporter.write_line(line)
    summary.write_doc(summary.ROWS, soak=bool(config.getoption("--soak")))


@pytest.fixture
def row(request: pytest.FixtureRequest) -> summary.Row:
    """This scenario's line of the summary table."""
    name = request.node.name.removeprefix("test_").replace("_", " ")
    return summary.new_row(name, request.node.nodeid)
