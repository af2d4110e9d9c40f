"""Issue 20 item 11: dependency floors above the known CVEs, and the environment meets them."""

from __future__ import annotations

import tomllib
from importlib.metadata import version

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

from tests.helpers.procs import REPO_ROOT

FLOORS = {"jinja2": "3.1.6", "starlette": "0.49.1", "h11": "0.16"}


def _requirements() -> dict[str, Requirement]:
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    reqs = [Requirement(r) for r in project["dependencies"]]
    return {r.name.lower(): r for r in reqs}


@pytest.mark.parametrize(("name", "floor"), FLOORS.items())
def test_floor_is_required_and_installed(name: str, floor: str) -> None:
    req = _requirements()[name]
    lowest = min(Version(s.version) for s in req.specifier if s.operator == ">=")
    assert lowest >= Version(floor), f"{name}: floor {lowest} is below {floor}"
    assert Version(version(name)) >= Version(floor)
