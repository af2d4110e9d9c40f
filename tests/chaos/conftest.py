"""Chaos suite: the soak switch, and the summary table printed at the end of the session
(also written to docs/reliability.md)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

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


def pytest_configure(config: pytest.Config) -> None:
    # Under pytest-xdist the scenarios run in a worker and the table is printed by the
    # controller: the worker leaves its rows in a folder the controller made (workers are
    # started after this hook and inherit the environment).
    if not hasattr(config, "workerinput"):
        os.environ[summary.ROWS_DIR_ENV] = tempfile.mkdtemp(prefix="medscribe-chaos-")


def pytest_sessionfinish(session: pytest.Session) -> None:
    config = session.config
    if summary.ROWS:
        summary.write_doc(summary.ROWS, soak=bool(config.getoption("--soak")))
        if hasattr(config, "workerinput"):
            summary.save_rows(summary.ROWS, Path(os.environ[summary.ROWS_DIR_ENV]))


def pytest_terminal_summary(terminalreporter: TerminalReporter, config: pytest.Config) -> None:
    rows = summary.ROWS or summary.load_rows(Path(os.environ[summary.ROWS_DIR_ENV]))
    if not rows:
        return
    terminalreporter.section("chaos summary")
    for line in summary.table(rows):
        terminalreporter.write_line(line)


@pytest.fixture
def row(request: pytest.FixtureRequest) -> summary.Row:
    """This scenario's line of the summary table."""
    name = request.node.name.removeprefix("test_").replace("_", " ")
    return summary.new_row(name, request.node.nodeid)
