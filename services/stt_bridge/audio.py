"""Reading an encounter's audio frames from ``ms:audio:{id}`` with plain XREAD from a
stored position, seeking to an exact byte position of the encounter's audio.

Positions are encounter audio bytes (all frames, in seq order, concatenated). The reader
remembers, for each frame it read, the stream id just before it, its start position and
the previous seq: a checkpoint from which a later seek (possibly by another replica) reads
again. Duplicate frames (same or lower seq, e.g. a capture agent re-sending its spool) are
skipped; gaps are logged.

With an :class:`~services.stt_bridge.audio_hub.AudioHub` the entries come from the
replica's one shared XREAD instead of this reader's own; everything else is the same.
"""

from __future__ import annotations

from collections import deque
from typing import Any, NamedTuple

import redis.asyncio as aioredis

from services.stt_bridge.audio_hub import AudioHub, RawEntry, Subscription
from shared.contracts import MalformedEntry, audio_parts, audio_values
from shared.logging import get_logger
from shared.streams import dead_entry

log = get_logger(__name__)

Checkpoint = tuple[str, int, int]  # (stream id to read after, start position, seq before)
DEAD_GROUP = "stt-bridge"  # the audio stream has no consumer group; named for `dlq list`
DEAD_MARK_TTL_S = 7 * 24 * 3600


class Frame(NamedTuple):
    """A tuple, not a frozen dataclass: every room reads 20 a second."""

    seq: int
    pcm: bytes  # only the part at or after the seek position
    end_pos: int  # encounter byte position just after this frame
    added_ms: int  # when capture XADDed it (from the entry id)


def _id_ms(entry_id: str) -> int:
    return int(entry_id.split("-", 1)[0])


def _as_dict(fields: Any) -> dict[Any, Any]:
    """An entry's fields as a dict: as redis-py gives them, or from the raw flat list."""
    if isinstance(fields, dict):
        return dict(fields)
    if not isinstance(fields, list | tuple):
        return {}
    it = iter(fields)
    return dict(zip(it, it, strict=False))


def _flat_parts(fields: Any) -> tuple[int, bytes]:
    """:func:`audio_parts` of the raw ``[name, value, ...]`` list (the last of a repeated
    name wins, as in a dict), with the same checks."""
    if type(fields) is list and len(fields) == 4 and fields[0] == b"seq" and fields[2] == b"pcm":
        return audio_values(fields[1], fields[3])  # as capture writes them
    if not isinstance(fields, list | tuple):
        return audio_values(None, None)
    seq = pcm = None
    it = iter(fields)
    for name, value in zip(it, it, strict=False):
        if name == b"seq" or name == "seq":
            seq = value
        elif name == b"pcm" or name == "pcm":
            pcm = value
    return audio_values(seq, pcm)


class AudioReader:
    def __init__(
        self,
        redis: aioredis.Redis,
        stream: str,
        *,
        encounter_id: str,
        count: int = 100,
        hub: AudioHub | None = None,
        dead_stream: str | None = None,
        dead_mark_prefix: str = "",
    ) -> None:
        self.redis = redis
        self.hub = hub
        self._sub: Subscription | None = None
        self.stream = stream
        self.encounter_id = encounter_id
        self.count = count
        self.last_id = "0-0"
        self.pos = 0  # encounter byte position after the last frame read
        self.last_seq = -1
        self.skip_until = 0
        self.frames_read = 0
        self._index: deque[Checkpoint] = deque()
        self.dead_stream = dead_stream
        self.dead_mark_prefix = dead_mark_prefix  # a key space the bridge's ACL may write
        self._malformed: list[tuple[str, dict[bytes, bytes], str]] = []

    def seek(self, ckpt: Checkpoint, resume_pos: int) -> None:
        """Read again from checkpoint ``ckpt``, delivering audio from ``resume_pos`` on."""
        self.last_id, self.pos, self.last_seq = ckpt
        self.skip_until = max(resume_pos, self.pos)
        self._index.clear()
        if self.hub is not None:
            self._sub = self.hub.subscribe(self.stream, self.last_id)

    def close(self) -> None:
        """Stop reading (the encounter left this replica)."""
        if self.hub is not None and self._sub is not None:
            self.hub.unsubscribe(self._sub)
            self._sub = None

    async def read(self, block_ms: int | None, want: int = 1) -> list[Frame]:
        """The next frames (empty after ``block_ms`` without any; None = don't block).

        With a hub, ``want``: return as soon as that many entries came (a chunk's worth),
        else what came by the end of the wait."""
        if self.hub is not None:
            if self._sub is None:
                self._sub = self.hub.subscribe(self.stream, self.last_id)
            if block_ms:
                await self.hub.wait(self._sub, block_ms / 1000, want)
            out = self._frames(self.hub.take(self._sub))
        else:
            reply: Any = await self.redis.xread(
                {self.stream: self.last_id}, count=self.count, block=block_ms
            )
            out = []
            for _stream, entries in reply or []:
                out.extend(self._frames(entries))
        if self._malformed:
            await self._dead_letter()
        return out

    async def _dead_letter(self) -> None:
        """Copy malformed entries to the dead-letter stream, once each: a seek or another
        replica reads them again, so a marker key says which were already copied."""
        pending, self._malformed = self._malformed, []
        if self.dead_stream is None:
            return
        for entry_id, fields, reason in pending:
            mark = f"{self.dead_mark_prefix}{self.encounter_id}:{entry_id}"
            if not await self.redis.set(mark, b"1", nx=True, ex=DEAD_MARK_TTL_S):
                continue
            dead = dead_entry(self.stream, DEAD_GROUP, entry_id, fields, reason, 1)
            await self.redis.xadd(self.dead_stream, dead)
            log.warning(
                "stream_entry_dead_lettered", stream=self.stream, group=DEAD_GROUP,
                entry_id=entry_id, reason="malformed", deliveries=1,
            )  # fmt: skip

    def _frames(self, entries: list[RawEntry]) -> list[Frame]:
        out: list[Frame] = []
        for raw_id, fields in entries:
            entry_id = raw_id.decode() if isinstance(raw_id, bytes) else raw_id
            frame = self._accept(entry_id, fields)
            self.last_id = entry_id
            if frame is not None:
                out.append(frame)
        return out

    def _accept(self, entry_id: str, fields: Any) -> Frame | None:
        try:
            seq, pcm = audio_parts(fields) if type(fields) is dict else _flat_parts(fields)
        except MalformedEntry as err:
            log.warning(
                "audio_frame_malformed", encounter_id=self.encounter_id, entry_id=entry_id,
                error=str(err),
            )  # fmt: skip
            self._malformed.append((entry_id, _as_dict(fields), f"malformed: {err}"))
            return None
        if seq <= self.last_seq:
            log.info("audio_frame_duplicate", encounter_id=self.encounter_id, frame_seq=seq)
            return None
        if seq > self.last_seq + 1 and self.last_seq >= 0:
            log.warning(
                "audio_frames_missing", encounter_id=self.encounter_id, frame_seq=seq,
                missing=seq - self.last_seq - 1,
            )  # fmt: skip
        self._index.append((self.last_id, self.pos, self.last_seq))
        start = self.pos
        self.pos += len(pcm)
        self.last_seq = seq
        self.frames_read += 1
        if self.pos <= self.skip_until:
            return None  # entirely before the resume position
        if start < self.skip_until:
            pcm = pcm[self.skip_until - start :]
        return Frame(seq, pcm, self.pos, _id_ms(entry_id))

    def checkpoint_for(self, pos: int, fallback: Checkpoint) -> Checkpoint:
        """The latest checkpoint whose frame starts at or before ``pos``; drops older ones."""
        while len(self._index) > 1 and self._index[1][1] <= pos:
            self._index.popleft()  # positions only grow: older checkpoints are never needed
        if self._index and self._index[0][1] <= pos:
            return self._index[0]
        return fallback
