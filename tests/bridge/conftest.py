from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from shared.acibench import Dialogue
from simulators.stt_server import SttSimConfig, SttSimulator, start_stt_simulator

# The design folder sits beside the main checkout; worktrees find it there too.
_ACI = Path("/work/shared/aci-bench/valid.csv")
if "MEDSCRIBE_ACI_BENCH" not in os.environ and _ACI.exists():
    os.environ["MEDSCRIBE_ACI_BENCH"] = str(_ACI)


@pytest.fixture
async def sim() -> AsyncIterator[SttSimulator]:
    simulator = await start_stt_simulator(SttSimConfig(api_keys=("sim-key",), time_scale=20.0))
    yield simulator
    await simulator.close()


@pytest.fixture
def short_dialogue(aci_dialogues: list[Dialogue]) -> Dialogue:
    """The first 12 turns of an ACI-Bench visit (short turns: fault tests cycle quickly)."""
    d = aci_dialogues[1]
    return Dialogue(d.encounter_id, d.turns[:12], "")
