"""Direct mode: each dialogue through the turn editor's edit and review, then the note
writer (structured output) and the evidence check, against one LLM endpoint."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from medscribe.evaluation.metrics import CheckScore, rouge, score_checks, section_completeness
from services.editor.review import review_reply
from services.notes.soap import ChatClient, SoapWriter
from shared.acibench import Dialogue
from shared.evidence import build_evidence
from shared.gateway import GatewayClient
from shared.prompts import build_edit_messages

ROLE = {"doctor": "Clinician", "patient": "Patient"}
CONTEXT_TURNS = 2
EDIT_CONCURRENCY = 8


@dataclass
class Models:
    edit: str = "claude-haiku-4-5-20251001"
    note: str = "claude-sonnet-4-6"
    note_max_tokens: int = 4000


@dataclass
class EncounterResult:
    encounter_id: str
    turns: int
    edited: int
    edit_fallbacks: int
    requests: int
    problem: str | None
    rouge: dict[str, float]
    completeness: float
    checks: CheckScore
    seconds: float
    statements: list[dict[str, Any]] = field(default_factory=list, repr=False)


def speaker_line(speaker: str, text: str) -> str:
    return f"{ROLE.get(speaker, 'Other')}: {text}"


async def edit_turns(
    client: GatewayClient, model: str, texts: Sequence[str]
) -> tuple[list[str], int, int]:
    """Each turn edited as the editor service does (prompt, reply review); (texts,
    edited count, fallback count)."""
    gate = asyncio.Semaphore(EDIT_CONCURRENCY)

    async def one(i: int) -> tuple[str, str]:
        context = texts[max(0, i - CONTEXT_TURNS) : i]
        async with gate:
            reply = await client.chat(
                model,
                build_edit_messages(texts[i], context=context),
                temperature=0.2,
                max_tokens=600,
            )
        review = review_reply(texts[i], reply.text, finish_reason=reply.finish_reason)
        return review.text, review.status

    done = await asyncio.gather(*(one(i) for i in range(len(texts))))
    edited = sum(status == "edited" for _, status in done)
    fallbacks = sum(status == "fallback" for _, status in done)
    return [text for text, _ in done], edited, fallbacks


async def run_dialogue(
    dialogue: Dialogue,
    client: GatewayClient,
    models: Models,
    fabrications: Callable[[], list[dict[str, Any]]] = list,
) -> EncounterResult:
    """One encounter; ``fabrications()`` returns what the simulator fabricated so far."""
    started = time.monotonic()
    texts = [t.text for t in dialogue.turns]
    edited, n_edited, n_fallback = await edit_turns(client, models.edit, texts)
    lines = [speaker_line(t.speaker, text) for t, text in zip(dialogue.turns, edited, strict=True)]
    seqs = list(range(len(lines)))
    before = len(fabrications())
    chat: ChatClient = client
    writer = SoapWriter(chat, max_tokens=models.note_max_tokens)
    written = await writer.write(models.note, lines, has_roles=True, seqs=seqs)
    made = fabrications()[before:]
    statements = build_evidence(
        written.sections, list(zip(seqs, edited, strict=True)), written.links
    )
    return EncounterResult(
        encounter_id=dialogue.encounter_id,
        turns=len(lines),
        edited=n_edited,
        edit_fallbacks=n_fallback,
        requests=len(lines) + written.requests,
        problem=written.problem,
        rouge=rouge(written.text, dialogue.note),
        completeness=section_completeness(written.sections),
        checks=score_checks(statements, made),
        seconds=round(time.monotonic() - started, 2),
        statements=statements,
    )
