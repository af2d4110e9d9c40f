"""Shapes of the real service's messages that its schema does not promise, for the
simulator's "realistic" knobs: nulls where numbers are documented, extra message types
between turns, ``expires_at`` in other shapes, finals that arrive without their text, and
word times that are estimates (jittered, overlapping) rather than the audio's exact edges.

Diarization that changes its mind: a final sent with the wrong speaker and corrected by a
``SpeakerRevision`` after the next final (or just before Termination), as the real
service's reclustering does.

Pure functions over outgoing messages; the session decides when to apply them.
"""

from __future__ import annotations

import copy
import random
import re
from datetime import UTC, datetime
from typing import Any, Literal

Message = dict[str, Any]
ExpiresAtFormat = Literal["int", "float", "ms", "iso", "null"]


def expires_at(epoch_s: float, fmt: ExpiresAtFormat) -> Any:
    if fmt == "float":
        return epoch_s + 0.25
    if fmt == "ms":
        return int(epoch_s * 1000)
    if fmt == "iso":
        return datetime.fromtimestamp(epoch_s, UTC).isoformat().replace("+00:00", "Z")
    if fmt == "null":
        return None
    return int(epoch_s)


def with_nulls(msg: Message) -> Message:
    """A Turn with the nulls the real service sends: no end-of-turn confidence on
    partials and some finals, unscored words, ``words: null`` on an empty partial."""
    out = copy.deepcopy(msg)
    out["end_of_turn_confidence"] = None
    out["extra_debug"] = {"latency_ms": None}
    words = out.get("words") or []
    for i, w in enumerate(words):
        if i % 2 == 0:
            w["confidence"] = None
    if not out["end_of_turn"] and not words:
        out["words"] = None
    return out


def without_text(msg: Message) -> Message:
    """A final the client cannot use: its text and words are missing."""
    out = copy.deepcopy(msg)
    out["transcript"] = None
    out["utterance"] = None
    out["words"] = None
    return out


def extras_before(msg: Message, n: int) -> list[Message]:
    """Messages a newer server interleaves with turns (types the client does not know)."""
    kinds: list[Message] = [
        {"type": "Heartbeat", "timestamp": n},
        {"type": "Warning", "warning_code": 1, "warning": "Audio is quieter than expected"},
        {"type": "SpeechStarted", "timestamp": n, "confidence": None},
    ]
    return [kinds[n % len(kinds)]]


def other_label(label: str) -> str:
    """The label diarization confuses ``label`` with (two-person visit: A <-> B)."""
    return "B" if label == "A" else "A"


def mislabelled(msg: Message, wrong: str) -> Message:
    """A final whose speaker the service first gets wrong (turn and every word)."""
    out = copy.deepcopy(msg)
    out["speaker_label"] = wrong
    for w in out.get("words") or []:
        if "speaker" in w:
            w["speaker"] = wrong
    return out


def speaker_revision(final: Message) -> Message:
    """``SpeakerRevision`` (SDK SpeakerRevisionEvent) that sets ``final``'s true label
    again: one item per changed turn, with its words (text and times unchanged)."""
    words = [
        {**{k: w[k] for k in ("text", "start", "end", "confidence", "word_is_final") if k in w},
         "speaker": final["speaker_label"]}
        for w in final.get("words") or []
    ]  # fmt: skip
    item = {"turn_order": final["turn_order"], "speaker_label": final["speaker_label"],
            "words": words}  # fmt: skip
    return {"type": "SpeakerRevision", "revisions": [item]}


def _mishearing_table() -> dict[str, str]:
    from simulators.asr_confusions import DRUG_MISHEARINGS

    table: dict[str, str] = {}
    for drug, heard in DRUG_MISHEARINGS:
        table.setdefault(drug, heard)  # the first (most typical) mis-hearing of each
    return table


MISHEARD = _mishearing_table()
_DRUG_WORD = re.compile(r"\b(" + "|".join(sorted(MISHEARD, key=len, reverse=True)) + r")\b", re.I)


def misheard(msg: Message) -> Message:
    """A Turn as a recognizer without Medical Mode writes it: drug names split and
    respelled by sound ("atorvastatin" -> "a tour of a statin"), word times shared out."""
    if not _DRUG_WORD.search(msg.get("transcript") or ""):
        return msg
    out = copy.deepcopy(msg)
    for key in ("transcript", "utterance"):
        if isinstance(out.get(key), str):
            out[key] = _DRUG_WORD.sub(lambda m: MISHEARD[m.group(1).lower()], out[key])
    words: list[dict[str, Any]] = []
    for w in out.get("words") or []:
        m = re.fullmatch(r"([A-Za-z]+)(\W*)", w["text"])
        heard = MISHEARD.get(m.group(1).lower()) if m else None
        if m is None or heard is None:
            words.append(w)
            continue
        pieces = heard.split()
        span = max(len(pieces), w["end"] - w["start"])
        for i, piece in enumerate(pieces):
            start = w["start"] + span * i // len(pieces)
            end = w["start"] + span * (i + 1) // len(pieces)
            text = piece + (m.group(2) if i == len(pieces) - 1 else "")
            words.append({**w, "text": text, "start": start, "end": max(end, start + 1)})
    out["words"] = words
    return out


def jittered(msg: Message, rng: random.Random, jitter_ms: int) -> Message:
    """Word times as a model estimates them: each edge moved by up to ``jitter_ms`` either
    way, so a word may end before its audio does or overlap its neighbour (the real
    service's times are estimates, not the audio's exact edges)."""
    words = msg.get("words")
    if jitter_ms <= 0 or not words:
        return msg
    out = copy.deepcopy(msg)
    for w in out["words"]:
        start = max(0, w["start"] + rng.randint(-jitter_ms, jitter_ms))
        end = max(start + 1, w["end"] + rng.randint(-jitter_ms, jitter_ms))
        w["start"], w["end"] = start, end
    return out
