"""Speaker labels on a real server (issue 21, point 6): ``SpeakerRevision`` parsed as
tolerantly as a Turn and applied to the turns already published; labels namespaced per
STT session so "A" of a later session never means "A" of the first."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

from services.stt_bridge.context import EncounterInfo
from services.stt_bridge.messages import (
    RevisedTurn,
    SpeakerRevisionMessage,
    parse_server_message,
)
from services.stt_bridge.metrics import BridgeMetrics
from services.stt_bridge.publish import TurnPublisher
from shared.contracts import SttSettings
from shared.speaker_labels import session_label, split_label
from simulators.stt_realism import mislabelled, speaker_revision

FINAL = {
    "type": "Turn", "turn_order": 3, "end_of_turn": True, "turn_is_formatted": True,
    "transcript": "Knee pain.", "speaker_label": "B",
    "words": [{"text": "Knee", "start": 1, "end": 2, "confidence": 0.9, "speaker": "B"},
              {"text": "pain.", "start": 3, "end": 4, "confidence": 0.9, "speaker": "B"}],
}  # fmt: skip


def _parse(raw: Any) -> Any:
    return parse_server_message(json.dumps(raw))


def test_sdk_shape_and_the_simulators_revision_parse() -> None:
    msg = _parse(speaker_revision(FINAL))
    assert isinstance(msg, SpeakerRevisionMessage)
    assert msg.revisions == (RevisedTurn(3, "B", ("B", "B")),)
    wrong = mislabelled(FINAL, "A")
    assert wrong["speaker_label"] == "A"
    assert {w["speaker"] for w in wrong["words"]} == {"A"}


def test_revision_parse_is_tolerant() -> None:
    msg = _parse({
        "type": "SpeakerRevision", "extra": {"x": None},
        "revisions": [
            {"turn_order": None, "speaker_label": "A"},  # cannot be placed: left out
            {"turn_order": "4", "speaker_label": None, "words": None},
            {"turn_order": 5, "words": [{"speaker": "B"}, None, {"speaker": 7}]},
            {"turn_order": -1, "speaker_label": "A"},
            "junk",
            {"turn_order": 6, "speaker_label": True},
        ],
    })  # fmt: skip
    assert isinstance(msg, SpeakerRevisionMessage)
    assert msg.revisions == (
        RevisedTurn(4, None, ()),
        RevisedTurn(5, None, ("B", None, "7")),
        RevisedTurn(6, None, ()),
    )
    for revisions in (None, "x", {}, 3):
        empty = _parse({"type": "SpeakerRevision", "revisions": revisions})
        assert isinstance(empty, SpeakerRevisionMessage)
        assert empty.revisions == ()


def test_session_labels_never_collide() -> None:
    assert session_label("A", 1) == "A"  # the first session: as before
    assert session_label("A", 2) == "2:A"
    assert session_label("UNKNOWN", 2) is None
    assert session_label("", 1) is None
    assert session_label(None, 3) is None
    assert split_label("2:A") == (2, "A")
    assert split_label("A") == (1, "A")
    assert split_label("x:A") == (1, "x:A")  # not ours: a label of the first session
    assert {session_label(x, n) for x in "AB" for n in (1, 2, 3)}.__len__() == 6


class _Owner:
    """The part of a publisher's owner (``TurnLog``) that ``revise`` touches."""

    def __init__(self) -> None:
        self.revised: dict[int, str | None] = {}

    async def revise_speakers(self, changed: dict[int, str | None]) -> None:
        self.revised.update(changed)


async def test_revisions_map_turn_orders_to_seqs_and_tolerate_unknown_turns() -> None:
    r = _Owner()
    ctx = SimpleNamespace(metrics=BridgeMetrics(), names=SimpleNamespace(
        partials=lambda eid: f"p:{eid}"))  # fmt: skip
    enc = EncounterInfo("enc-1", SttSettings(speaker_labels=True), resume_guard_ms=50)
    pub = TurnPublisher(ctx, enc, r, None, "sess-2", 0, session_n=2)  # type: ignore[arg-type]
    pub.seq_of = {0: 7, 1: 8, 2: 9}  # this session's published finals
    await pub.revise(SpeakerRevisionMessage((
        RevisedTurn(1, "B"),
        RevisedTurn(2, None, ("A", "B", "A")),  # no turn label: most of its words
        RevisedTurn(0, "UNKNOWN"),  # no longer named: unassigned
        RevisedTurn(99, "A"),  # not published yet (held): kept for when it is
    )))  # fmt: skip
    assert r.revised == {8: "2:B", 9: "2:A", 7: None}
    assert pub.early == {99: "A"}
    await pub.revise(SpeakerRevisionMessage((RevisedTurn(1, "A"),)))
    assert r.revised[8] == "2:A"  # the latest revision wins
    before = dict(r.revised)
    pub.seq_of[100] = 10
    await pub.revise(SpeakerRevisionMessage((RevisedTurn(50, "B"),)))  # an old, unknown turn
    assert r.revised == before
    applied = ctx.metrics.speaker_revisions.labels("applied")._value.get()
    unknown = ctx.metrics.speaker_revisions.labels("unknown_turn")._value.get()
    assert (applied, unknown) == (4, 1)
