"""Which server Turn messages become published final turns (assemblyai-protocol.md §9.3).

* U3 family: the one ``end_of_turn`` message per turn.
* Universal-Streaming without ``format_turns``: the ``end_of_turn`` message (unformatted).
* Universal-Streaming with ``format_turns``: only the formatted final. Older servers send
  an unformatted final first and the formatted one after it (same ``turn_order``); newer
  ones send a single formatted final. An unformatted final is held until its formatted
  twin arrives, and published as it is (``formatted=False``) only if the twin does not come
  within ``wait_s``, a later turn starts, or the session ends.
* Empty finals are skipped; a second final for a ``turn_order`` already emitted is dropped.
"""

from __future__ import annotations

from services.stt_bridge.messages import TurnMessage

Selected = tuple[TurnMessage, bool]  # (message, formatted)


class FinalSelector:
    def __init__(self, *, universal_streaming: bool, format_turns: bool, wait_s: float) -> None:
        self.us = universal_streaming
        self.format_turns = format_turns
        self.wait_s = wait_s
        self.last_order = -1
        self._pending: TurnMessage | None = None
        self._deadline = 0.0

    @property
    def deadline(self) -> float | None:
        return self._deadline if self._pending is not None else None

    def feed(self, msg: TurnMessage, now: float) -> list[Selected]:
        out: list[Selected] = []
        if self._pending is not None and msg.turn_order > self._pending.turn_order:
            out += self._release()
        if not msg.end_of_turn or msg.turn_order <= self.last_order:
            return out
        if not msg.transcript.strip():
            return out
        if not self.us:
            out.append(self._emit(msg, True))
        elif not self.format_turns:
            out.append(self._emit(msg, msg.turn_is_formatted))
        elif msg.turn_is_formatted:
            self._pending = None
            out.append(self._emit(msg, True))
        elif self._pending is None:
            self._pending, self._deadline = msg, now + self.wait_s
        return out

    def lost(self, turn_order: int | None) -> tuple[list[Selected], bool]:
        """A final that cannot be used arrived: what to publish, and whether it is a gap.

        A lost formatted twin of a held final releases the held one (nothing is missing);
        a lost repeat of a turn already emitted is nothing; anything else is a gap.
        """
        pending = self._pending
        if pending is not None and turn_order == pending.turn_order:
            return self._release(), False
        out: list[Selected] = []
        if pending is not None and (turn_order is None or turn_order > pending.turn_order):
            out = self._release()
        if turn_order is not None:
            if turn_order <= self.last_order:
                return out, False
            self.last_order = turn_order
        return out, True

    def expired(self, now: float) -> list[Selected]:
        if self._pending is not None and now >= self._deadline:
            return self._release()
        return []

    def flush(self) -> list[Selected]:
        """At Termination: whatever is still held goes out unformatted."""
        return self._release()

    def _release(self) -> list[Selected]:
        msg, self._pending = self._pending, None
        return [self._emit(msg, False)] if msg is not None else []

    def _emit(self, msg: TurnMessage, formatted: bool) -> Selected:
        self.last_order = msg.turn_order
        return msg, formatted
