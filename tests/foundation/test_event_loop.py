"""Every service runs on uvloop unless MEDSCRIBE_UVLOOP=false (issue 22)."""

from __future__ import annotations

import pytest

from shared import aio
from shared.settings import CommonSettings


async def _which() -> str:
    return aio.loop_name()


def test_uvloop_by_default_asyncio_when_turned_off() -> None:
    assert aio.run(_which(), use_uvloop=True) == "uvloop"
    assert aio.run(_which(), use_uvloop=False) == "asyncio"


@pytest.mark.parametrize(("value", "expected"), [(None, True), ("false", False), ("0", False)])
def test_the_setting(monkeypatch: pytest.MonkeyPatch, value: str | None, expected: bool) -> None:
    monkeypatch.delenv("MEDSCRIBE_UVLOOP", raising=False)
    if value is not None:
        monkeypatch.setenv("MEDSCRIBE_UVLOOP", value)
    assert CommonSettings().uvloop is expected


def test_a_bad_value_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEDSCRIBE_UVLOOP", "sometimes")
    with pytest.raises(ValueError, match="uvloop"):
        CommonSettings()
