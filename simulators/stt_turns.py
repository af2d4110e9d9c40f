"""Turn detection of the streaming simulator, in audio time, from decoded codec events.

U3 models (`u3-rt-pro`, ...): when silence reaches `min_turn_silence` the turn ends if it is
complete (the codec's end mark, or terminal punctuation), otherwise one partial is sent for
that silence period; at `max_turn_silence` the turn is forced final. One formatted final,
transcript = the exact decoded text.

Universal-Streaming: a growing partial per completed word; end of turn when silence reaches
`min_turn_silence` and the end-of-turn confidence reaches the threshold, or at
`max_turn_silence`. `format_turns=false` gives lowercase text without punctuation; `true`
gives the exact text on every message (new behaviour) or, with `legacy_double_final`, an
unformatted final followed by a formatted final with the same `turn_order`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from simulators.codec_decoder import (
    CharEvent,
    DecodedEvent,
    EndMarkEvent,
    SilenceEvent,
    SpeakerEvent,
    SpeechEvent,
)
from simulators.stt_params import SessionParams

Message = dict[str, Any]
PLACEHOLDER = "[speech]"  # word for audio that is not tone-coded (a real recording)
_TERMINAL = (".", "?", "!")
_UNFORMAT = re.compile(r"[^a-z0-9']+")
WORD_CONFIDENCE = 0.98


@dataclass
class _Word:
    text: str
    start: int
    end: int
    speaker: str | None
    complete: bool = False


def unformat(word: str) -> str:
    """Universal-Streaming's unformatted form of a word: lowercase, no punctuation."""
    return _UNFORMAT.sub("", word.lower())


class TurnTracker:
    """Feed decoded events; get the Turn / SpeechStarted messages to send, in order."""

    def __init__(
        self, params: SessionParams, legacy_double_final: bool = False, swap_labels: bool = False
    ) -> None:
        self.params = params
        self.legacy_double_final = legacy_double_final
        self.swap_labels = swap_labels  # the first two speakers get B and A
        self.turn_order = 0
        self.finals = 0
        self.partials = 0
        self._labels: dict[str, str] = {}
        self._speaker: str | None = None
        self._reset()

    def _reset(self) -> None:
        self._words: list[_Word] = []
        self._end_mark = False
        self._last_voice = 0
        self._partial_sent = False  # U3: one partial per silence period
        self._started = False
        self._gap = False  # a new header or silence separates the next character's word

    @property
    def has_text(self) -> bool:
        return bool(self._words)

    # -- events --------------------------------------------------------------------

    def handle(self, events: list[DecodedEvent]) -> list[Message]:
        out: list[Message] = []
        for ev in events:
            if isinstance(ev, SilenceEvent):
                self._silence(ev.end_ms, out)
                continue
            self._last_voice = ev.end_ms
            self._partial_sent = False
            if isinstance(ev, CharEvent):
                self._char(ev, out)
            elif isinstance(ev, SpeakerEvent):
                self._speaker = self._labels.setdefault(ev.name, self._next_label())
                self._close_word(out)
                self._gap = True
            elif isinstance(ev, EndMarkEvent):
                self._close_word(out)
                self._end_mark = bool(self._words)
            elif isinstance(ev, SpeechEvent):
                self._speech(ev, out)
        return out

    def _next_label(self) -> str:
        n = len(self._labels)
        return _label(1 - n if self.swap_labels and n < 2 else n)

    def _char(self, ev: CharEvent, out: list[Message]) -> None:
        self._end_mark = False
        if ev.char == " ":
            self._close_word(out)
            return
        last = self._words[-1] if self._words else None
        if last is None or last.complete or self._gap:
            if last is not None:
                self._close_word(out)
            self._start_turn(ev.start_ms, out)
            self._words.append(_Word(ev.char, ev.start_ms, ev.end_ms, self._speaker))
            self._gap = False
        else:
            last.text += ev.char
            last.end = ev.end_ms

    def _speech(self, ev: SpeechEvent, out: list[Message]) -> None:
        self._end_mark = False
        last = self._words[-1] if self._words else None
        if last is not None and last.text == PLACEHOLDER and ev.start_ms - last.end < 300:
            last.end = ev.end_ms
            return
        self._close_word(out)
        self._start_turn(ev.start_ms, out)
        self._words.append(_Word(PLACEHOLDER, ev.start_ms, ev.end_ms, self._speaker or "A"))

    def _start_turn(self, at_ms: int, out: list[Message]) -> None:
        if not self._started and self.params.family == "u3":
            out.append({"type": "SpeechStarted", "timestamp": at_ms, "confidence": 0.9})
        self._started = True

    def _close_word(self, out: list[Message]) -> None:
        if self._words and not self._words[-1].complete:
            self._words[-1].complete = True
            if self.params.family == "us":
                self._emit_us_partial(out)

    def _silence(self, now_ms: int, out: list[Message]) -> None:
        if not self._words:
            return
        self._gap = True
        silence = now_ms - self._last_voice
        p = self.params
        if silence >= p.max_turn_silence:
            self.end_turn(out)
        elif silence >= p.min_turn_silence:
            if p.family == "us":
                if self._confidence() >= p.end_of_turn_confidence_threshold:
                    self.end_turn(out)
            elif self._complete():
                self.end_turn(out)
            elif not self._partial_sent:
                self._partial_sent = True
                self.partials += 1
                out.append(self._turn(self._text(), False, False, 0.0, final_words=False))

    # -- messages ------------------------------------------------------------------

    def _complete(self) -> bool:
        return self._end_mark or self._text().endswith(_TERMINAL)

    def _confidence(self) -> float:
        if self._end_mark:
            return 0.95
        return 0.6 if self._text().endswith(_TERMINAL) else 0.05

    def _text(self, words: list[_Word] | None = None) -> str:
        return " ".join(w.text for w in (self._words if words is None else words))

    def _formatted_partials(self) -> bool:
        return self.params.format_turns and not self.legacy_double_final

    def _emit_us_partial(self, out: list[Message]) -> None:
        done = [w for w in self._words if w.complete]
        conf = self._confidence()
        self.partials += 1
        if self._formatted_partials():
            out.append(self._turn(self._text(done), True, False, conf, words=done))
        else:
            out.append(self._unformatted(done, False, conf))

    def end_turn(self, out: list[Message]) -> None:
        """Send the final(s) of the current turn, if it has any words (ForceEndpoint too)."""
        if not self._words:
            self._reset()
            return
        for w in self._words:
            w.complete = True
        text = self._text()
        p = self.params
        if p.family == "u3":
            conf = 1.0 if self._complete() else 0.0
            out.append(self._turn(text, True, True, conf, utterance=text))
        else:
            conf = self._confidence()
            if not p.format_turns or self.legacy_double_final:
                out.append(self._unformatted(self._words, True, conf))
            if p.format_turns:
                out.append(self._turn(text, True, True, conf, utterance=text))
        self.finals += 1
        self.turn_order += 1
        self._reset()

    def _unformatted(self, words: list[_Word], eot: bool, conf: float) -> Message:
        plain = [
            _Word(u, w.start, w.end, w.speaker, w.complete)
            for w in words
            if (u := (w.text if w.text == PLACEHOLDER else unformat(w.text)))
        ]
        text = self._text(plain)
        return self._turn(text, False, eot, conf, words=plain, utterance=text if eot else "")

    def _turn(
        self,
        transcript: str,
        formatted: bool,
        eot: bool,
        conf: float,
        *,
        words: list[_Word] | None = None,
        final_words: bool = True,
        utterance: str = "",
    ) -> Message:
        labels = self.params.speaker_labels
        msg: Message = {
            "type": "Turn",
            "turn_order": self.turn_order,
            "turn_is_formatted": formatted,
            "end_of_turn": eot,
            "transcript": transcript,
            "utterance": utterance,
            "end_of_turn_confidence": conf,
            "words": [
                {
                    "text": w.text,
                    "start": w.start,
                    "end": w.end,
                    "confidence": WORD_CONFIDENCE,
                    "word_is_final": final_words and w.complete,
                    **({"speaker": w.speaker or "UNKNOWN"} if labels else {}),
                }
                for w in (self._words if words is None else words)
            ],
        }
        if labels:
            first = self._words[0].speaker if self._words else None
            msg["speaker_label"] = first or "UNKNOWN"
        if eot and self.params.language_detection:
            msg["language_code"], msg["language_confidence"] = "en", 0.99
        return msg


def _label(index: int) -> str:
    """A, B, ..., Z, AA, AB, ... in order of first appearance."""
    label = ""
    index += 1
    while index:
        index, rem = divmod(index - 1, 26)
        label = chr(65 + rem) + label
    return label
