"""STT simulator faults in turn on one running stack, while three visits stream: connection
drops (1006), Error 3005 mid-visit, the session cap (3008), new-session rate limits
(1008), a slow Begin (under and over the bridge's Begin timeout), all from a "realistic"
server (nulls, extra message types, another expires_at shape, lagging replies, estimated
word times, a slow Termination). Every visit must still come out word for word."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from shared.acibench import Dialogue
from shared.contracts import StreamNames
from simulators.stt_server import SttSimConfig, SttSimStats
from tests.chaos.harness import SCALE, ChaosStack, pick_dialogues
from tests.chaos.report import Row

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

TURNS = 36
PHASE_MAX_S = 5.0  # a fault stays on until it has bitten (at most this long)


def phases(cfg: SttSimConfig) -> list[tuple[str, Callable[[], None], Callable[[Probe], int]]]:
    """(name, switch the fault on, evidence counter that must grow while it is on)."""

    def drops() -> None:
        cfg.drop_every_s = 4.0

    def begin_too_slow() -> None:
        cfg.drop_every_s = 4.0
        cfg.begin_delay_s = 3.5  # over the bridge's 3 s Begin timeout: it retries

    def cap3008() -> None:
        cfg.drop_every_s = 4.0  # sessions reopen and get the short cap, which comes first
        cfg.max_session_s = 3.0

    def err3005() -> None:
        cfg.error_after_s, cfg.error_code = 4.0, 3005

    def rate_limited() -> None:
        cfg.drop_every_s = 3.0
        cfg.new_sessions_per_min, cfg.rate_limit_code = 3, 1008

    def slow_begin() -> None:
        cfg.drop_every_s = 4.0
        cfg.begin_delay_s = 1.0  # under the Begin timeout

    return [
        ("drop", drops, lambda p: p.stats.closed_by_code[1006]),
        ("begin-timeout", begin_too_slow, lambda p: p.log_count("stt_begin_timeout")),
        ("3008", cap3008, lambda p: p.stats.closed_by_code[3008]),
        ("3005", err3005, lambda p: p.stats.closed_by_code[3005]),
        ("rate-limit", rate_limited, lambda p: p.stats.sessions_rejected),
        ("slow-begin", slow_begin, lambda p: p.stats.sessions_opened),
    ]


@dataclass
class Probe:
    stats: SttSimStats
    bridge_log: Path

    def log_count(self, event: str) -> int:
        try:
            return self.bridge_log.read_text().count(event)
        except OSError:
            return 0


def clear(cfg: SttSimConfig) -> None:
    cfg.drop_every_s = cfg.error_after_s = cfg.new_sessions_per_min = None
    cfg.max_session_s = 10800.0
    cfg.begin_delay_s = 0.0


async def test_stt_faults_then_revoked_key(
    tmp_path: Path, redis_url: str, names: StreamNames, aci_dialogues: list[Dialogue], row: Row
) -> None:
    # The "realistic server" profile throughout: nulls, extra message types, an ISO
    # expires_at, replies that lag the audio, estimated (jittered, overlapping) word times
    # and a slow Termination, as the real service sends them; every fault comes on top.
    cfg = SttSimConfig.realistic(time_scale=SCALE)
    db = f"sqlite+aiosqlite:///{tmp_path / 'notes.db'}"
    # Rotation off: the bridge must meet the session cap (3008) instead of avoiding it.
    s = ChaosStack(tmp_path, redis_url, names, db, stt_config=cfg,
                   extra_env={"MEDSCRIBE_SESSION_ROTATE_BEFORE_S": "0"})  # fmt: skip
    async with s:
        assert s.stt is not None
        stats = s.stt.stats
        for i, d in enumerate(pick_dialogues(aci_dialogues, 3, TURNS, offset=4)):
            await s.play(s.visit(d, f"room-{i}"))
        await s.encounter_ids()
        await s.growth_after(names.turns)  # the visits are under way
        probe = Probe(stats, tmp_path / "logs" / "bridge-1.log")
        missed = []
        for name, apply, evidence in phases(cfg):
            before = evidence(probe)
            apply()
            deadline = time.monotonic() + PHASE_MAX_S
            while evidence(probe) <= before and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.3)  # let it bite more than once
            clear(cfg)
            if evidence(probe) <= before:
                missed.append(name)
        assert not missed, f"faults that never fired (visits too short?): {missed}"
        row.recovery_s.append(await s.growth_after(names.turns) or 0.0)
        for v in s.visits:
            assert await s.finish(v) == 0
        outcomes = await s.wait_outcomes()
        await s.check(row, outcomes)
        assert not s.unexpected_exits(), s.unexpected_exits()

        # A permanent fault: the key is revoked. The next visit must end in a visible
        # failed state, with its audio kept for a later pass.
        cfg.api_keys = ("a-key-the-bridge-does-not-have",)
        (d,) = pick_dialogues(aci_dialogues, 1, 4, offset=7)
        lost = s.visit(d, "room-revoked")
        await s.play(lost)
        assert await s.finish(lost) == 0
        detail = (await s.wait_outcomes())[lost.encounter_id or ""]
        assert detail["status"] == "failed", detail["status"]
        assert detail["failure_stage"] == "stt"
        assert detail["failure_reason"]
        assert not detail.get("note")
        assert await s.audio_turns(lost) == lost.want  # every frame kept, in order
        row.encounters += 1
        row.turns_expected += len(lost.want)
    s.assert_no_phi_in_logs()
