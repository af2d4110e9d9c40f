"""The chaos suite's bad-input scenario on a real Redis Cluster: hypothesis' malformed
entries in every stream of a clinic while a visit runs; each is dead-lettered, nothing
crashes or stays pending, and the visit comes out word for word."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared.acibench import Dialogue
from shared.contracts import StreamNames
from tests.chaos import test_bad_input as scenario
from tests.chaos.report import Row
from tests.cluster.procs import RedisClusterProcs
from tests.kit.cluster import clinic_prefix

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]


async def test_bad_input_on_cluster(
    tmp_path: Path, redis_cluster: RedisClusterProcs, aci_dialogues: list[Dialogue]
) -> None:
    names = StreamNames(clinic_prefix("clinic-bad"))
    row = Row("bad input on cluster", "cluster-bad-input")  # not in the chaos table
    await scenario.test_bad_input(tmp_path, redis_cluster.url, names, aci_dialogues, row)
    assert row.turns_delivered == row.turns_expected > 0
