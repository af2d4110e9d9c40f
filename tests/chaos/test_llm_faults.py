"""LLM Gateway simulator faults in turn while visits run: a 429 burst, 5xx, hanging
requests (timeouts), malformed JSON, malformed SOAP replies, then an outage longer than the
retry budget, then recovery. Turns must all arrive (edited, or the original text as
`fallback`), and every visit must get its note once the gateway is back."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from shared.acibench import Dialogue
from shared.contracts import StreamNames
from simulators.llm_server import LlmSimConfig
from tests.chaos.harness import ChaosStack, pick_dialogues
from tests.chaos.report import Row

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

TURNS = 24
PHASE_S = 0.6  # each fault; all of them end well before the visits do
PHASE_MAX_S = 30.0
FIRED_BY = {"429": 429, "503": 503, "500": 500}  # the status each error phase answers with
OUTAGE_S = 6.0  # longer than the editor's whole retry budget (MEDSCRIBE_GATEWAY_DEADLINE_S=4)


def phases(cfg: LlmSimConfig) -> list[tuple[str, Callable[[], None]]]:
    def burst429() -> None:
        cfg.throttle_next = 25

    def errors5xx() -> None:
        cfg.error_rate, cfg.error_status = 0.5, 503

    def errors500() -> None:
        cfg.error_rate, cfg.error_status = 0.5, 500

    def timeouts() -> None:
        cfg.timeout_rate, cfg.hang_s = 0.5, 3.0

    def malformed() -> None:
        cfg.malformed_rate = 0.5
        cfg.soap_malformed = 2

    return [("429", burst429), ("503", errors5xx), ("500", errors500), ("timeout", timeouts),
            ("malformed", malformed)]  # fmt: skip


def clear(cfg: LlmSimConfig) -> None:
    cfg.throttle_next = 0
    cfg.error_rate = cfg.timeout_rate = cfg.malformed_rate = 0.0
    cfg.down = False


async def test_llm_faults(
    tmp_path: Path, redis_url: str, names: StreamNames, aci_dialogues: list[Dialogue], row: Row
) -> None:
    cfg = LlmSimConfig(seed=7)
    db = f"sqlite+aiosqlite:///{tmp_path / 'notes.db'}"
    s = ChaosStack(tmp_path, redis_url, names, db, editors=2, llm_config=cfg)
    async with s:
        assert s.llm is not None
        stats = s.llm.stats
        for i, d in enumerate(pick_dialogues(aci_dialogues, 3, TURNS, offset=8)):
            await s.play(s.visit(d, f"room-{i}"))
        await s.encounter_ids()
        for name, apply in phases(cfg):
            fired = FIRED_BY.get(name)
            before = stats.count(status=fired) if fired else 0
            apply()
            await asyncio.sleep(PHASE_S)
            # Keyed to progress, not the clock: on a slow start no request may have come in
            # PHASE_S, so an error phase stays on until the gateway has answered with it.
            deadline = time.monotonic() + PHASE_MAX_S
            while fired and stats.count(status=fired) == before:
                assert time.monotonic() < deadline, f"no request met the {name} fault"
                await asyncio.sleep(0.05)
            clear(cfg)
        cfg.down = True  # the outage: visits end and notes fall due while it lasts
        for v in s.visits:
            assert await s.finish(v) == 0
        await asyncio.sleep(OUTAGE_S)
        clear(cfg)
        t0 = time.monotonic()
        outcomes = await s.wait_outcomes()
        row.recovery_s.append(time.monotonic() - t0)
        await s.check(row, outcomes)
        statuses = set()
        async with httpx.AsyncClient(base_url=s.api, timeout=10) as client:
            for v in s.visits:
                tr = (await client.get(f"/v1/encounters/{v.encounter_id}/transcript",
                                       headers=s.auth())).json()  # fmt: skip
                statuses |= {t["edit_status"] for t in tr["turns"]}
        assert statuses <= {"edited", "unchanged", "fallback"}, statuses
        assert "fallback" in statuses, "the outage never forced a fallback"
        for status in (429, 503, 500):
            assert stats.count(status=status) > 0, (status, dict(stats.counts))
        assert not s.unexpected_exits(), s.unexpected_exits()
    s.assert_no_phi_in_logs()
