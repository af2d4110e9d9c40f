"""Where an encounter's audio stands: the values and the one object its runner, sessions
and publishers pass between them instead of the runner itself.

``AudioCursor`` is what a session reads and sends audio through: the encounter's audio
reader and rechunker, the encounter byte position sent so far, and the stop frame once
known. The runner owns it (one per encounter, ``seek``-ed to the resume point before each
session); the session's sender feeds and sends through it. ``ResumePoint`` is where a new
session would start (the next ``seq``, the resume position, an audio checkpoint at or
before it): the runner keeps it, a publisher returns the new one after each turn.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass

from prometheus_client import Gauge

from services.stt_bridge.audio import AudioReader, Checkpoint, Frame
from services.stt_bridge.chunker import Rechunker
from services.stt_bridge.metrics import BridgeMetrics
from shared.logging import get_logger

log = get_logger(__name__)
MAX_FRAMES_WANTED = 16  # far below the audio hub's per-encounter buffer


@dataclass(frozen=True, slots=True)
class ResumePoint:
    seq: int  # the encounter seq of the next turn (or gap)
    pos: int  # encounter audio bytes: a new session starts streaming here
    ckpt: Checkpoint  # read the audio stream from here to reach ``pos``


class AudioCursor:
    def __init__(
        self,
        reader: AudioReader,
        chunker: Rechunker,
        *,
        encounter_id: str,
        metrics: BridgeMetrics,
        stop_wait_s: float,
        latency_samples: list[float] | None = None,
    ) -> None:
        self.reader = reader
        self.chunker = chunker
        self.eid = encounter_id
        self.stop_seq: int | None = None  # EncounterStopped.last_frame_seq, once known
        self.sent_pos = 0  # encounter bytes sent in the current session (incl. its offset)
        self._metrics = metrics
        self._stop_wait_s = stop_wait_s
        self._latency_samples = latency_samples
        self._fed: deque[tuple[int, int]] = deque()  # (frame end position, added ms)
        # When the sender first found no frame to send since the last it fed (None while it
        # has audio): the missing-frames wait counts from here, not from the last read, so
        # time spent sending a large batch (a slow server, a loaded host) is never taken
        # for audio that did not come.
        self._starved_since: float | None = None
        self._lag_gauge: Gauge | None = None
        self._frame_bytes = 0  # the largest frame fed since the last seek

    def seek(self, ckpt: Checkpoint, pos: int) -> None:
        """Start a session's audio at encounter byte ``pos`` (read from ``ckpt``)."""
        self.reader.seek(ckpt, pos)
        self.chunker.clear()
        self._fed.clear()
        self.sent_pos = pos
        self._starved_since = None
        self._frame_bytes = 0

    def feed(self, frames: list[Frame]) -> None:
        for f in frames:
            self.chunker.feed(f.pcm)
            self._fed.append((f.end_pos, f.added_ms))
            if len(f.pcm) > self._frame_bytes:
                self._frame_bytes = len(f.pcm)
        self._starved_since = None

    def frames_wanted(self) -> int:
        """Frames that complete the next chunk, by the size of the frames so far (1 while
        none is known): the sender is woken once they came, not at every frame. Once the
        stop is known, every frame: the last may be any size."""
        need = self.chunker.target - self.chunker.buffered
        if need <= 0 or self._frame_bytes <= 0 or self.stop_seq is not None:
            return 1
        return min(MAX_FRAMES_WANTED, -(-need // self._frame_bytes))

    def starved(self) -> None:
        """The sender asked for frames and none came."""
        if self._starved_since is None:
            self._starved_since = time.monotonic()

    def sent(self, nbytes: int) -> None:
        self.sent_pos += nbytes
        now_ms = time.time() * 1000
        latest = None
        while self._fed and self._fed[0][0] <= self.sent_pos:
            _, added = self._fed.popleft()
            latency = max(0.0, (now_ms - added) / 1000)
            self._metrics.forward_latency.observe(latency)
            if self._latency_samples is not None:
                self._latency_samples.append(latency)
            latest = latency
        if latest is not None:
            if self._lag_gauge is None:  # a labels() lookup per chunk adds up over rooms
                self._lag_gauge = self._metrics.audio_lag.labels(self.eid)
            self._lag_gauge.set(latest)

    def at_end(self) -> bool:
        """True once the last frame of a stopped encounter has been read.

        ``stop_seq`` is set by the replica: at once when it reads ``EncounterStopped``
        itself, else by its batched poll of the stored stops (``Bridge._watch_stops``).
        """
        if self.stop_seq is None:
            return False
        if self.reader.last_seq >= self.stop_seq:
            return True
        if self._starved_since is None:  # frames came since the last empty read: read on
            return False
        waited = time.monotonic() - self._starved_since
        if waited >= self._stop_wait_s:
            log.warning(
                "audio_frames_missing_at_stop", encounter_id=self.eid,
                last_frame_seq=self.stop_seq, frame_seq=self.reader.last_seq,
            )  # fmt: skip
            return True
        return False
