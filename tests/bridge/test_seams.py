"""The seams between the bridge's encounter runner, its sessions and their publishers
(issue 23 step 4): the publisher returns what it changed and the runner applies it; a
session is stopped through a ``SessionStop``; outcomes are an enum."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from types import SimpleNamespace
from typing import Any, TypeVar

from services.stt_bridge.audio import Checkpoint
from services.stt_bridge.context import EncounterInfo
from services.stt_bridge.cursor import ResumePoint
from services.stt_bridge.encounter import EncounterRunner, Outcome
from services.stt_bridge.messages import TurnMessage, WordMessage
from services.stt_bridge.metrics import BridgeMetrics
from services.stt_bridge.publish import GapRecorded, Published, TurnPublisher
from services.stt_bridge.session import SessionStop
from shared.contracts import FinalTurn, SttSettings

T = TypeVar("T")
BYTES_PER_MS = 32  # 16 kHz, 16-bit


class _Owner:
    """A ``TurnLog`` that records what it is asked; its state never changes by itself."""

    def __init__(self, at: ResumePoint) -> None:
        self.at = at
        self.writes = 0

    def resume_point(self) -> ResumePoint:
        return self.at

    async def restoring(self, write: Callable[[], Awaitable[T]]) -> T:
        self.writes += 1
        return await write()

    async def revise_speakers(self, changed: dict[int, str | None]) -> None:
        raise AssertionError("not used here")

    def published(self, done: Published) -> None:
        raise AssertionError("the session applies results, not the publisher")

    def gap_recorded(self, gap: GapRecorded) -> None:
        raise AssertionError("the session applies results, not the publisher")


class _Store:
    def __init__(self, fresh: bool = True) -> None:
        self.fresh = fresh
        self.turns: list[tuple[FinalTurn, int, Checkpoint]] = []
        self.gaps: list[int] = []

    async def publish_turn(
        self, token: str, turn: FinalTurn, *, resume_pos: int, ckpt: Checkpoint
    ) -> bool:
        self.turns.append((turn, resume_pos, ckpt))
        return self.fresh

    async def record_gap(self, eid: str, token: str, *, seq: int, **_: Any) -> bool:
        self.gaps.append(seq)
        return self.fresh


def _publisher(store: _Store, owner: _Owner, offset: int = 0) -> TurnPublisher:
    ctx = SimpleNamespace(
        metrics=BridgeMetrics(), store=store, leases=SimpleNamespace(token="t"), partials=None,
        names=SimpleNamespace(partials=lambda eid: f"p:{eid}"),
    )  # fmt: skip
    cursor = SimpleNamespace(reader=SimpleNamespace(checkpoint_for=lambda pos, fb: ("9-0", pos, 4)))
    enc = EncounterInfo("enc-1", SttSettings(), resume_guard_ms=100)
    return TurnPublisher(ctx, enc, owner, cursor, "sess-1", offset)  # type: ignore[arg-type]


def _final(order: int, end_ms: float) -> TurnMessage:
    words = (WordMessage("Knee", end_ms - 300, end_ms - 200), WordMessage("pain.", 0, end_ms))
    return TurnMessage(order, True, True, "Knee pain.", words=words)


async def test_final_returns_the_new_resume_point_and_leaves_the_owner_alone() -> None:
    at = ResumePoint(seq=5, pos=3200, ckpt=("1-0", 0, 0))
    owner, store = _Owner(at), _Store()
    pub = _publisher(store, owner, offset=3200)
    sent = 3200 + 2000 * BYTES_PER_MS
    done = await pub.final(_final(0, 1000), True, sent)
    assert done is not None
    resume = 3200 + (1000 + 100) * BYTES_PER_MS  # the last word's end plus the guard
    assert done.resume == ResumePoint(6, resume, ("9-0", resume, 4))
    assert (done.turn.seq, done.turn.start_ms, done.turn.end_ms) == (5, 100, 1100)
    assert store.turns == [(done.turn, resume, ("9-0", resume, 4))]
    assert owner.at is at
    assert owner.writes == 1
    assert pub.seq_of == {0: 5}
    # Never beyond what was sent, never before the owner's resume position.
    short = await pub.final(_final(1, 1000), True, 3200 + 500 * BYTES_PER_MS)
    assert short is not None
    assert short.resume.pos == 3200 + 500 * BYTES_PER_MS
    assert short.turn.seq == 5  # the owner applied nothing: the publisher reads its seq


async def test_duplicates_and_empty_finals_return_nothing() -> None:
    owner, store = _Owner(ResumePoint(0, 0, ("0-0", 0, -1))), _Store(fresh=False)
    pub = _publisher(store, owner)
    assert await pub.final(_final(0, 500), True, 64000) is None
    assert await pub.final(TurnMessage(1, True, True, "  "), True, 64000) is None
    assert await pub.gap(3) is None
    assert pub.published == 0
    assert len(store.turns) == 1
    assert store.gaps == [0]


async def test_gap_returns_the_reserved_seq() -> None:
    owner, store = _Owner(ResumePoint(7, 0, ("0-0", 0, -1))), _Store()
    assert await _publisher(store, owner).gap(2) == GapRecorded(7, "sess-1", 2)
    assert store.gaps == [7]


def _runner() -> EncounterRunner:
    settings = SimpleNamespace(resume_guard_ms=200, chunk_ms=50, terminate_timeout_s=5.0,
                               stop_wait_s=1.0)  # fmt: skip
    names = SimpleNamespace(
        audio=lambda eid: f"a:{eid}", dead="dead", key=lambda *parts: ":".join(parts)
    )
    ctx = SimpleNamespace(settings=settings, redis=None, names=names, metrics=BridgeMetrics(),
                          audio=None, latency_samples=None)  # fmt: skip
    started = SimpleNamespace(encounter_id="enc-1", stt=SttSettings())
    return EncounterRunner(ctx, started)  # type: ignore[arg-type]


def test_runner_applies_what_the_publisher_returned() -> None:
    r = _runner()
    turn = FinalTurn(
        encounter_id="enc-1", seq=0, stt_session_id="s", turn_order=3, text="Hi.", words=(),
        start_ms=0, end_ms=10,
    )  # fmt: skip
    r.published(Published(turn, ResumePoint(1, 6400, ("2-0", 6000, 3))))
    assert r.resume_point() == ResumePoint(1, 6400, ("2-0", 6000, 3))
    assert r.last_key == ("s", 3)
    assert r.recent == {0: turn}
    r.gap_recorded(GapRecorded(1, "s", None))  # no turn_order: last_key stays
    r.gap_recorded(GapRecorded(2, "s", 5))
    assert (r.next_seq, r.gap_seqs, r.last_key) == (3, [1, 2], ("s", 5))
    assert r.resume_point() == ResumePoint(3, 6400, ("2-0", 6000, 3))
    r.stop_seq = 42  # set by the replica; the cursor ends the audio there
    assert r.cursor.stop_seq == 42


def test_session_stop_reaches_a_session_begun_before_or_after() -> None:
    class _S:
        stops = 0

        def stop_sending(self) -> None:
            self.stops += 1

    halt, early = SessionStop(), _S()
    halt._attach(early)  # type: ignore[arg-type]
    halt.stop()
    assert early.stops == 1
    halt._attach(None)
    halt.stop()  # no session streaming: only remembered
    assert early.stops == 1
    late = _S()
    halt._attach(late)  # type: ignore[arg-type]
    assert late.stops == 1  # interrupted before it began: stops at once


def test_outcomes_are_an_enum_with_the_metric_labels() -> None:
    assert [o.value for o in Outcome] == [
        "transcribed", "failed", "handback", "lost", "crashed", "cancelled",
    ]  # fmt: skip
    assert Outcome.HANDBACK == "handback"
    assert str(Outcome.LOST) == "lost"
