"""Reading a structured SOAP reply: sections -> statements -> the turn numbers (``seqs``).

A model that ignores the JSON schema and answers in the strict text format is accepted
too (its statements get computed links). Problems are named in our words, never quoted,
with the same messages as ``soap_format.parse_soap`` where the problem is the same.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from services.notes.soap_format import SECTIONS, TITLES, SoapFormatError, SoapNote, parse_soap

# section -> per statement: the seqs the model gave, or None when it gave none usable.
Links = dict[str, list[list[int] | None]]


@dataclass(frozen=True)
class StructuredNote:
    note: SoapNote
    links: Links | None  # None: the reply was text, every link is computed


def _strip_fence(text: str) -> str:
    body = text.strip()
    if body.startswith("```"):
        lines = body.splitlines()
        if len(lines) >= 2 and lines[-1].strip() == "```":
            return "\n".join(lines[1:-1]).strip()
    return body


def _seqs(value: Any) -> list[int] | None:
    if not isinstance(value, list):
        return None
    seqs = [v for v in value if isinstance(v, int) and not isinstance(v, bool) and v >= 0]
    return seqs or None


def _statement(item: Any) -> tuple[str, list[int] | None] | None:
    if isinstance(item, str):
        text, seqs = item, None
    elif isinstance(item, dict) and isinstance(item.get("text"), str):
        text, seqs = item["text"], _seqs(item.get("seqs"))
    else:
        raise SoapFormatError("a statement is neither text nor an object with text")
    text = " ".join(text.split())
    if text.startswith("- "):
        text = text[2:]
    return (text, seqs) if text else None


def parse_structured(reply: str) -> StructuredNote:
    """The note and its links from a JSON reply, or from a text reply (links None)."""
    body = _strip_fence(reply)
    if not body.startswith("{"):
        return StructuredNote(parse_soap(reply), None)
    try:
        data = json.loads(body)
    except ValueError:
        raise SoapFormatError("the reply is not valid JSON") from None
    raw = data.get("sections", data) if isinstance(data, dict) else None
    if not isinstance(raw, dict):
        raise SoapFormatError("the reply has no sections object")
    found = {str(k).lower(): v for k, v in raw.items()}
    absent = [TITLES[s] for s in SECTIONS if s not in found]
    if absent:
        raise SoapFormatError(f"missing section(s): {', '.join(absent)}")
    sections: dict[str, list[str]] = {}
    links: Links = {}
    for name in SECTIONS:
        items = found[name]
        if not isinstance(items, list):
            raise SoapFormatError(f"the {TITLES[name]} section is not a list")
        parsed = [st for st in map(_statement, items) if st is not None]
        sections[name] = [text for text, _ in parsed]
        links[name] = [seqs for _, seqs in parsed]
    if not any(sections.values()):
        raise SoapFormatError("all four sections are empty")
    return StructuredNote(SoapNote(sections), links)


def readable(reply: str) -> str:
    """A rejected reply as the reviewer should see it: JSON sections rendered as the text
    format (only those present), anything else as it came."""
    body = _strip_fence(reply)
    try:
        data = json.loads(body) if body.startswith("{") else None
    except ValueError:
        return reply.strip()
    raw = data.get("sections", data) if isinstance(data, dict) else None
    if not isinstance(raw, dict):
        return reply.strip()
    found = {str(k).lower(): v for k, v in raw.items()}
    blocks: list[str] = []
    for name in SECTIONS:
        if isinstance(found.get(name), list):
            items = [_statement(i) for i in found[name] if isinstance(i, (str, dict))]
            bullets = "".join(f"\n- {st[0]}" for st in items if st is not None)
            blocks.append(f"{TITLES[name]}:{bullets}")
    return "\n\n".join(blocks) if blocks else reply.strip()
