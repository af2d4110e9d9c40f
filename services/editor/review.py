"""Accept or reject a model's edit of one turn.

A reply is rejected, and the original turn kept (``edit_status=fallback``), when it is
empty, cut off, far longer than the turn, adds a number or a drug name the speaker did
not say, or flips what the turn says: a denial ("no chest pain" -> "chest pain", "unable
to walk" -> "able to walk"), a medication action ("stop lisinopril" -> "continue
lisinopril"), a direction ("increase" -> "decrease", "worse" -> "better"), a frequency or
the time of day (``shared.guard``). Reasons are codes, never text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from shared.contracts import EditStatus
from shared.guard import meaning_flips, unsupported_additions

_WRAPPER = re.compile(r"^\s*<turn(?: n=\"\d+\")?>\s*(.*?)\s*</turn>\s*$", re.DOTALL)
_QUOTES = ('"', "“", "”", "'")
LENGTH_SLACK_CHARS = 40


@dataclass(frozen=True)
class Review:
    text: str
    status: EditStatus
    reason: str | None = None


def clean_reply(reply: str) -> str:
    """Strip what models add around an answer: a <turn> wrapper, quotes, whitespace."""
    text = reply.strip()
    m = _WRAPPER.match(text)
    if m:
        text = m.group(1)
    if len(text) >= 2 and text[0] in _QUOTES and text[-1] in _QUOTES:
        text = text[1:-1].strip()
    return " ".join(text.split())


def review_reply(
    original: str, reply: str, *, finish_reason: str | None = None, max_ratio: float = 1.6
) -> Review:
    text = clean_reply(reply)
    if not text:
        return Review(original, "fallback", "empty_reply")
    if finish_reason == "length":
        return Review(original, "fallback", "truncated_reply")
    if len(text) > max_ratio * len(original) + LENGTH_SLACK_CHARS:
        return Review(original, "fallback", "reply_too_long")
    additions = unsupported_additions(original, text)
    if additions:
        return Review(original, "fallback", "+".join(additions))
    flips = meaning_flips(original, text)
    if flips:
        return Review(original, "fallback", "+".join(flips))
    if text == original:
        return Review(original, "unchanged")
    return Review(text, "edited")
