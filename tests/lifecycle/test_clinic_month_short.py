"""The clinic-month's short version (issue 18): 30 visits through the real stack with AOF
Redis, random kills, sampling; the same bounds as the long run (`python -m bench.clinic_month`).

Every visit must end with a note and its transcript equal to the dialogue; Redis memory
after the last visit back within 10 MB of its start (visits leave Redis once durable); no
service's RSS +20 % or open fds growing within a process lifetime after warm-up.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.clinic_month import run_month, summary
from shared.acibench import Dialogue
from tests.chaos.harness import pick_dialogues

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


async def test_thirty_visits_stay_bounded(
    tmp_path: Path, aci_dialogues: list[Dialogue], capsys: pytest.CaptureFixture[str]
) -> None:
    dialogues = pick_dialogues(aci_dialogues, 10, 10)
    result = await run_month(
        tmp_path,
        f"sqlite+aiosqlite:///{tmp_path / 'notes.db'}",
        dialogues,
        visits=30,
        rooms=6,
        scale=10.0,
        kill_every_s=15.0,
        seed=18,
        sample_every_s=1.0,
    )
    with capsys.disabled():
        print("\n" + summary(result))
    assert result.kills, "the run should have killed services"
    assert not result.bounds(), result.bounds()
