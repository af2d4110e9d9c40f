"""Publishing one session's turns: partials to ``ms:partials:{id}`` (trimmed, UI only) and
finals to ``ms:turns`` with the encounter ``seq``, mapped to encounter time.

A final is published in one fenced Lua call together with the new resume position (after
the final's last word, plus a guard inside the silence that ended the turn) and an audio
checkpoint, so a resumed session never re-sends a published turn's audio and never skips
unpublished audio.

The publisher holds no encounter state: it reads where the encounter stands from its
owner (``TurnLog``, the runner) and returns what a write changed (``Published``,
``GapRecorded``); the session hands that back to the owner, which applies it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol, TypeVar

from services.stt_bridge.chunker import BYTES_PER_SAMPLE, ms_to_bytes
from services.stt_bridge.context import BridgeContext, EncounterInfo
from services.stt_bridge.cursor import AudioCursor, ResumePoint
from services.stt_bridge.messages import RevisedTurn, SpeakerRevisionMessage, TurnMessage
from shared.contracts import PARTIALS_MAXLEN, FinalTurn, PartialTurn
from shared.logging import get_logger
from shared.speaker_labels import session_label
from shared.streams import publish

log = get_logger(__name__)
MAX_EARLY = 64  # revisions kept for turns not yet published (a misbehaving server: bounded)
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Published:
    """A final turn now in Redis, and the resume point its write advanced the state to."""

    turn: FinalTurn
    resume: ResumePoint


@dataclass(frozen=True, slots=True)
class GapRecorded:
    """A final that could not be used, recorded as a gap at ``seq`` (the next is seq + 1)."""

    seq: int
    session_id: str
    turn_order: int | None


class TurnLog(Protocol):
    """What a session and its publisher need of the encounter's owner (the runner)."""

    def resume_point(self) -> ResumePoint:
        """Where the encounter stands now (the next seq, resume position, checkpoint)."""
        ...

    async def restoring(self, write: Callable[[], Awaitable[T]]) -> T:
        """Run a fenced state write, putting back first what Redis lost if it must."""
        ...

    async def revise_speakers(self, changed: dict[int, str | None]) -> None: ...

    def published(self, done: Published) -> None:
        """Apply a published turn to the owner's state (Redis now says the same)."""
        ...

    def gap_recorded(self, gap: GapRecorded) -> None:
        """Apply a recorded gap to the owner's state (Redis now says the same)."""
        ...


class TurnPublisher:
    def __init__(
        self,
        ctx: BridgeContext,
        enc: EncounterInfo,
        owner: TurnLog,
        cursor: AudioCursor,
        session_id: str,
        offset: int,
        session_n: int = 1,
    ) -> None:
        self.ctx = ctx
        self.enc = enc
        self.owner = owner
        self.cursor = cursor  # the session's audio: checkpoints for a resume position
        self.session_id = session_id
        self.offset = offset  # encounter audio bytes where this session's audio starts
        self.offset_ms = enc.ms(offset)
        self.labels = enc.stt.speaker_labels
        self.session_n = session_n  # ordinal of this session in the encounter (labels)
        self.published = 0
        self.partials_stream = ctx.names.partials(enc.eid)
        # turn_order -> seq of this session's published finals: SpeakerRevision names
        # turns by turn_order, which restarts in every session.
        self.seq_of: dict[int, int] = {}
        # Revisions of turns not published yet (a final held for its formatted twin):
        # applied when the turn is published.
        self.early: dict[int, str | None] = {}

    def _speaker(self, label: str | None) -> str | None:
        """The encounter-wide label (never colliding with another session's)."""
        return session_label(label, self.session_n) if self.labels else None

    async def partial(self, msg: TurnMessage) -> None:
        text = msg.transcript.strip()
        if not text:
            return
        at = self.offset_ms + (msg.words[-1].end if msg.words else 0)
        partial = PartialTurn(encounter_id=self.enc.eid, text=text, at_ms=max(0, round(at)))
        ctx = self.ctx
        if ctx.partials is not None:  # published off the receive loop, latest wins
            ctx.partials.offer(self.partials_stream, partial, msg.turn_order)
            return
        await publish(ctx.redis, self.partials_stream, partial, maxlen=PARTIALS_MAXLEN)
        ctx.metrics.partials.inc()

    async def final(self, msg: TurnMessage, formatted: bool, sent_pos: int) -> Published | None:
        """Publish a final; returns it with the new resume point (None: nothing published,
        an empty or duplicate final). The caller hands the result to the owner."""
        ctx, eid = self.ctx, self.enc.eid
        text = msg.transcript.strip()
        if not text:
            return None
        # The words as plain dicts, validated with the turn in one call (a Word model built
        # per word cost more than the rest of the turn).
        starts = [max(0, round(self.offset_ms + w.start)) for w in msg.words]
        ends = [max(0, round(self.offset_ms + w.end)) for w in msg.words]
        words = [
            {
                "text": w.text,
                "start_ms": start,
                "end_ms": end,
                "confidence": min(1.0, max(0.0, float(w.confidence))),
                "speaker": self._speaker(w.speaker),
            }
            for w, start, end in zip(msg.words, starts, ends, strict=True)
        ]
        # Word times are the model's estimates and may overlap: the turn spans them all.
        start_ms = min(starts) if starts else round(self.enc.ms(sent_pos))
        end_ms = max(start_ms, *ends) if ends else start_ms
        at = self.owner.resume_point()
        turn = FinalTurn.model_validate(
            {
                "encounter_id": eid,
                "seq": at.seq,
                "stt_session_id": self.session_id,
                "turn_order": msg.turn_order,
                "text": text,
                "words": tuple(words),  # strict: a tuple, as the field says
                "speaker": self._speaker(
                    self.early.pop(msg.turn_order)
                    if msg.turn_order in self.early
                    else msg.speaker_label
                ),
                "start_ms": start_ms,
                "end_ms": end_ms,
                "formatted": formatted,
            }
        )
        if ctx.partials is not None:  # a partial of this turn, still queued, is stale now
            ctx.partials.discard(self.partials_stream, msg.turn_order)
        resume = self._resume_after(msg, sent_pos, at.pos)
        ckpt = self.cursor.reader.checkpoint_for(resume, at.ckpt)
        fresh = await self.owner.restoring(
            lambda: ctx.store.publish_turn(ctx.leases.token, turn, resume_pos=resume, ckpt=ckpt)
        )
        if not fresh:
            log.info(
                "turn_duplicate_skipped", encounter_id=eid, stt_session_id=self.session_id,
                turn_order=msg.turn_order,
            )  # fmt: skip
            return None
        self.seq_of[msg.turn_order] = turn.seq
        self.published += 1
        ctx.metrics.turns.inc()
        log.info(
            "turn_published", encounter_id=eid, seq=turn.seq, stt_session_id=self.session_id,
            turn_order=msg.turn_order, words=len(words),
        )  # fmt: skip
        return Published(turn, ResumePoint(turn.seq + 1, resume, ckpt))

    async def revise(self, msg: SpeakerRevisionMessage) -> None:
        """Apply a ``SpeakerRevision`` to this session's published turns: the encounter
        keeps the latest label per seq and hands the map on with EncounterTranscribed.
        Turns it does not know (never published here: skipped, lost, or of a session
        before a reconnect) are counted and left alone."""
        if not self.labels:
            return
        changed: dict[int, str | None] = {}
        unknown = 0
        last = max(self.seq_of, default=-1)
        for item in msg.revisions:
            seq = self.seq_of.get(item.turn_order)
            if seq is not None:
                changed[seq] = self._speaker(_revised_label(item))
            elif item.turn_order > last and len(self.early) < MAX_EARLY:
                self.early[item.turn_order] = _revised_label(item)
            else:
                unknown += 1
        if changed:
            await self.owner.revise_speakers(changed)
        self.ctx.metrics.speaker_revisions.labels("applied").inc(len(changed))
        self.ctx.metrics.speaker_revisions.labels("unknown_turn").inc(unknown)
        log.info(
            "speaker_revision", encounter_id=self.enc.eid, stt_session_id=self.session_id,
            count=len(changed), missing=unknown,  # applied / of turns not published here
        )  # fmt: skip

    async def gap(self, turn_order: int | None) -> GapRecorded | None:
        """Reserve the next ``seq`` for a final that could not be used, so the transcript
        and note show a missing turn where it was (its audio is resent after a drop).
        Returns the gap (None: a repeat); the caller hands it to the owner."""
        ctx, eid = self.ctx, self.enc.eid
        seq = self.owner.resume_point().seq
        fresh = await self.owner.restoring(
            lambda: ctx.store.record_gap(
                eid,
                ctx.leases.token,
                seq=seq,
                session_id=self.session_id,
                turn_order=turn_order,
            )
        )
        if not fresh:
            return None
        ctx.metrics.gaps.inc()
        log.warning(
            "final_unusable_gap_recorded", encounter_id=eid, seq=seq,
            stt_session_id=self.session_id, turn_order=turn_order,
        )  # fmt: skip
        return GapRecorded(seq, self.session_id, turn_order)

    def _resume_after(self, msg: TurnMessage, sent_pos: int, resume_pos: int) -> int:
        """Encounter byte position just after this final (never beyond what was sent, never
        before the current ``resume_pos``)."""
        enc = self.enc
        if msg.words:
            # The latest estimated end of any word (estimates overlap), plus a guard that
            # absorbs their error; it stays inside the silence that ended the turn.
            last_end = max(w.end for w in msg.words)
            pos = self.offset + ms_to_bytes(last_end + enc.resume_guard_ms, enc.stt.sample_rate)
        else:
            log.warning("final_without_words", encounter_id=enc.eid, turn_order=msg.turn_order)
            pos = sent_pos
        pos = min(pos, sent_pos)
        pos -= pos % BYTES_PER_SAMPLE
        return max(pos, resume_pos)


def _revised_label(item: RevisedTurn) -> str | None:
    """The turn's new label: the one given, else the one most of its words now carry."""
    if item.speaker_label is not None:
        return item.speaker_label
    named = Counter(w for w in item.word_speakers if w)  # ties: the first word's wins
    return named.most_common(1)[0][0] if named else None
