"""The evidence of a note version: its statements linked to the encounter's turns and
checked (``shared.evidence``), computed when the note is written or edited."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any

from services.notes.db.models import Turn
from services.notes.soap_structured import Links
from services.notes.transcript import turn_text
from shared.evidence import build_evidence


async def note_evidence(
    sections: Mapping[str, Sequence[str]], turns: Sequence[Turn], links: Links | None = None
) -> list[dict[str, Any]]:
    """Statements with seqs, links and flags; the model's ``links`` where it gave them.

    Aligning every statement with every turn is CPU work (~150 ms for an hour-long visit):
    it runs in a thread so the API and the stream consumer sharing this loop keep answering.
    """
    spoken = [(t.seq, turn_text(t)) for t in sorted(turns, key=lambda t: t.seq)]
    said = [(seq, text) for seq, text in spoken if text]
    return await asyncio.to_thread(build_evidence, sections, said, links)
