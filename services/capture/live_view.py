"""What the clinician sees while recording.

``TerminalView`` (stdout is a terminal): a two-line status at the bottom (recording, Redis
connected or spooling, time captured, level meter; the current partial) with each edited
turn printed above it: what was heard, the edit, and the keyword flags.
``PlainView`` (stdout redirected, e.g. a service manager's log): one line per event and a
status line every few seconds. Transcript text appears there only with ``show_text``,
because redirected output tends to end up in log files.
"""

from __future__ import annotations

import math
import shutil
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TextIO

import numpy as np

from services.capture.publisher import WriterStatus
from shared.contracts import EditedTurn, EncounterStarted

FRAME_SECONDS = 0.05


@dataclass(frozen=True)
class Summary:
    """What the view prints when the visit ends (built by the capture service)."""

    encounter_id: str
    last_frame_seq: int
    delivered: bool
    stop_reason: str
    note_url: str
    export_hint: str
    spool_dir: str
    refused: str = ""  # the clinician's line when the server refused the visit
    kept_in: str = ""  # where a refused visit's unsent audio is kept
    server_export_dir: str = ""  # the folder the server says it wrote (rooms)


def level_dbfs(pcm: bytes) -> float:
    """RMS level of PCM16 audio in dBFS (-96 for silence)."""
    samples = np.frombuffer(pcm[: len(pcm) // 2 * 2], dtype="<i2").astype(np.float64)
    if samples.size == 0:
        return -96.0
    rms = math.sqrt(float(np.mean(samples * samples))) / 32768.0
    return max(-96.0, 20 * math.log10(rms)) if rms > 0 else -96.0


def meter(dbfs: float, width: int = 12) -> str:
    """A bar from -60 dBFS (empty) to 0 dBFS (full)."""
    filled = max(0, min(width, round((dbfs + 60) / 60 * width)))
    return "#" * filled + "-" * (width - filled)


def clock(seconds: float) -> str:
    s = int(seconds)
    return f"{s // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}"


def link_state(status: WriterStatus) -> str:
    if status.online:
        return "Redis connected"
    return f"Redis unreachable - spooling to disk ({status.spool_bytes // 1024} KiB)"


class LiveView:
    """Interface and no-op base (used when nothing should be shown)."""

    refresh_s = 1.0

    def __init__(self) -> None:
        self.frames = 0
        self.level = -96.0

    def started(self, msg: EncounterStarted, source: str, status: WriterStatus) -> None: ...

    def frame(self, pcm: bytes) -> None:
        self.frames += 1
        if self.frames % 4 == 0:  # the meter needs ~5 updates a second, not 20
            self.level = level_dbfs(pcm)

    @property
    def seconds(self) -> float:
        return self.frames * FRAME_SECONDS

    def tick(self, status: WriterStatus) -> None: ...

    def partial(self, text: str) -> None: ...

    def turn(self, turn: EditedTurn) -> None: ...

    def error(self, message: str) -> None: ...

    def notice(self, message: str) -> None: ...

    def live_link(self, url: str, valid_s: int) -> None: ...

    def stopping(self, last_frame_seq: int) -> None: ...

    def finished(self, summary: Summary) -> None: ...


NullView = LiveView


def _flags(turn: EditedTurn) -> str:
    if not turn.flags:
        return "-"
    groups: dict[str, list[str]] = {}
    denied: list[str] = []
    for flag in turn.flags:
        if flag.assertion == "negated":
            denied.append(flag.term)
        else:
            groups.setdefault(flag.kind, []).append(flag.term)
    shown = [f"{kind}: {', '.join(terms)}" for kind, terms in sorted(groups.items())]
    if denied:
        shown.append(f"denies: {', '.join(denied)}")
    return "  ".join(shown)


def _who(turn: EditedTurn) -> str:
    return f"speaker {turn.speaker}" if turn.speaker else "speaker unknown"


def _note(turn: EditedTurn) -> str:
    """Why a turn is shown as heard: "edited" is said only when the text changed."""
    if turn.edit_status == "fallback":
        return "  (not edited: editor unavailable)"
    return ""


def _text_lines(turn: EditedTurn, dim: bool) -> list[str]:
    if turn.edited_text == turn.text:
        return [f"  said  : {turn.text}"]
    heard = f"\x1b[2m{turn.text}\x1b[0m" if dim else turn.text
    return [f"  heard : {heard}", f"  edited: {turn.edited_text}"]


def _finish_lines(summary: Summary) -> list[str]:
    lines = [f"Encounter {summary.encounter_id}: {summary.last_frame_seq + 1} frames captured"]
    if summary.refused:  # its one line was printed when it came; where the audio is
        lines.append(
            f"Audio kept on this machine (not sent again by itself): {summary.kept_in}/audio.wav"
        )
        return lines
    if summary.delivered:
        lines.append("All audio is on the clinic server.")
    else:
        lines.append(
            "Redis is unreachable: the rest of the audio is safe in the spool "
            f"({summary.spool_dir}) and is sent on the next `medscribe capture` start."
        )
    if summary.stop_reason == "spool_full":
        lines.append("Recording STOPPED early: the spool disk budget is full.")
    if summary.stop_reason == "max_duration":
        lines.append("Recording STOPPED at the longest visit allowed (MEDSCRIBE_MAX_VISIT_S).")
    lines.append(f"Visit page: {summary.note_url}")
    if summary.server_export_dir:
        lines.append(f"Files on the clinic server: {summary.server_export_dir}")
    else:
        lines.append(
            f"Files on the clinic server (when written): {summary.export_hint}"
            " (the usual place; the server had not confirmed it yet)"
        )
    return lines


class TerminalView(LiveView):
    refresh_s = 0.25

    def __init__(self, out: TextIO | None = None) -> None:
        super().__init__()
        self.out = out or sys.stdout
        self._partial = ""
        self._status: WriterStatus | None = None
        self._drawn = False
        self._stopping = False

    def _width(self) -> int:
        return max(40, shutil.get_terminal_size((100, 24)).columns - 1)

    def _clear(self) -> None:
        if self._drawn:
            self.out.write("\r\x1b[K\x1b[1A\r\x1b[K")
            self._drawn = False

    def _draw(self) -> None:
        self._clear()
        width = self._width()
        partial = self._partial[-(width - 4) :] if self._partial else ""
        self.out.write(self._status_line(width) + "\n" + ("  > " + partial)[:width])
        self._drawn = True
        self.out.flush()

    def _print(self, text: str) -> None:
        self._clear()
        self.out.write(text.rstrip("\n") + "\n")
        self._draw()

    def started(self, msg: EncounterStarted, source: str, status: WriterStatus) -> None:
        who = f", clinician {msg.clinician}" if msg.clinician else ""
        self._print(
            f"medscribe capture - room {msg.room}{who}\n"
            f"encounter {msg.encounter_id}\n"
            f"source: {source}   speech: {msg.stt.speech_model}   LLM: {msg.llm_model}\n"
            "Press Ctrl+C to end the visit."
        )
        self.tick(status)

    def _status_line(self, width: int) -> str:
        state = "STOPPING" if self._stopping else "REC"
        status = self._status or WriterStatus()
        warn = "  ! spool near its disk budget" if status.near_budget else ""
        plain = f" {clock(self.seconds)}  {link_state(status)}  level [{meter(self.level)}]{warn}"
        return f"\x1b[1m{state}\x1b[0m" + plain[: max(0, width - len(state))]

    def tick(self, status: WriterStatus) -> None:
        self._status = status
        self._draw()

    def partial(self, text: str) -> None:
        self._partial = text
        self._draw()

    def turn(self, turn: EditedTurn) -> None:
        self._partial = ""
        lines = [f"[{clock(turn.start_ms / 1000)}] turn {turn.seq}  {_who(turn)}{_note(turn)}"]
        lines += _text_lines(turn, dim=True)
        lines.append(f"  flags : {_flags(turn)}")
        self._print("\n".join(lines))

    def error(self, message: str) -> None:
        self._print(f"ERROR: {message}")

    def notice(self, message: str) -> None:
        self._print(message)

    def live_link(self, url: str, valid_s: int) -> None:
        self._print(
            f"Watch this visit in this room's browser (the link works once, within "
            f"{valid_s // 60} min):\n  {url}"
        )

    def stopping(self, last_frame_seq: int) -> None:
        self._stopping = True
        self._print(f"Stopping: {last_frame_seq + 1} frames captured; sending the rest ...")

    def finished(self, summary: Summary) -> None:
        self._clear()
        self.out.write("\n".join(_finish_lines(summary)) + "\n")
        self.out.flush()


class PlainView(LiveView):
    """Line-oriented output for a non-terminal stdout."""

    refresh_s = 10.0

    def __init__(self, out: TextIO | None = None, show_text: bool = False) -> None:
        super().__init__()
        self.out = out or sys.stdout
        self.show_text = show_text
        self._online: bool | None = None
        self._last_status = 0.0

    def _line(self, text: str) -> None:
        stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        self.out.write(f"{stamp} {text}\n")
        self.out.flush()

    def started(self, msg: EncounterStarted, source: str, status: WriterStatus) -> None:
        self._line(
            f"recording encounter={msg.encounter_id} room={msg.room} source={source!r} "
            f"speech_model={msg.stt.speech_model} llm_model={msg.llm_model}"
        )

    def tick(self, status: WriterStatus) -> None:
        now = time.monotonic()
        changed = status.online != self._online
        if not changed and now - self._last_status < self.refresh_s:
            return
        self._online, self._last_status = status.online, now
        link = "connected" if status.online else "spooling"
        self._line(
            f"status recording={clock(self.seconds)} redis={link} "
            f"frames_sent={status.frames_confirmed} spool_bytes={status.spool_bytes}"
            + (" WARNING=spool_near_budget" if status.near_budget else "")
        )

    def turn(self, turn: EditedTurn) -> None:
        kinds = {
            k: sum(f.kind == k and f.assertion == "present" for f in turn.flags)
            for k in ("medication", "symptom", "diagnosis")
        }
        counts = " ".join(f"{k}={v}" for k, v in kinds.items())
        speaker = turn.speaker or "-"
        self._line(
            f"turn seq={turn.seq} speaker={speaker} status={turn.edit_status} flags: {counts}"
        )
        if self.show_text:
            for line in _text_lines(turn, dim=False):
                self._line(line)
            self._line(f"  flags : {_flags(turn)}")

    def error(self, message: str) -> None:
        self._line(f"error {message}")

    def notice(self, message: str) -> None:
        self._line(message)

    def live_link(self, url: str, valid_s: int) -> None:
        # The link opens the visit's live text: into a log file only when asked for.
        if self.show_text:
            self._line(f"live view link (works once, within {valid_s // 60} min): {url}")

    def stopping(self, last_frame_seq: int) -> None:
        self._line(f"stopping last_frame_seq={last_frame_seq}")

    def finished(self, summary: Summary) -> None:
        for line in _finish_lines(summary):
            self._line(line)


def make_view(out: Any = None, show_text: bool = False) -> LiveView:
    out = out or sys.stdout
    if getattr(out, "isatty", lambda: False)():
        return TerminalView(out)
    return PlainView(out, show_text=show_text)
