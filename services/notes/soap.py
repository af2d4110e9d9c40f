"""Writing the SOAP note: one request for a normal visit, parts + merge for a long one.

Every reply is checked (``soap_format.parse_soap``); a bad one is retried once with the
problem named, then kept as ``needs_review``. Transcripts longer than the budget are cut
at turn boundaries into parts, each summarised as a partial SOAP note, and the parts are
merged (hierarchically if even they exceed the budget), so an hour-long visit is never
truncated. Gateway errors propagate: the scheduler retries the whole job later.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from services.notes import soap_prompt
from services.notes.soap_format import (
    SECTIONS,
    SoapFormatError,
    SoapNote,
    merge_mechanically,
    parse_soap,
)
from shared.logging import get_logger

log = get_logger(__name__)


class ChatReply(Protocol):
    @property
    def text(self) -> str: ...


class ChatClient(Protocol):
    """What the writer needs of ``shared.gateway.GatewayClient``."""

    async def chat(
        self, model: str, messages: list[dict[str, str]], *, temperature: float, max_tokens: int
    ) -> Any: ...


@dataclass
class WrittenNote:
    text: str
    sections: dict[str, list[str]]
    problem: str | None = None  # set → the note needs review
    requests: int = 0
    parts: int = 1

    @classmethod
    def of(cls, note: SoapNote, problem: str | None, requests: int, parts: int = 1) -> WrittenNote:
        return cls(note.text, note.sections, problem, requests, parts)


@dataclass
class _Attempt:
    note: SoapNote | None
    problem: str | None
    requests: int = 0
    notes: list[str] = field(default_factory=list)


def split_lines(lines: Sequence[str], budget: int) -> list[list[str]]:
    """Consecutive groups of lines, each joined length ≤ budget (a giant line is split)."""
    chunks: list[list[str]] = [[]]
    size = 0
    for line in lines:
        pieces = [line[i : i + budget] for i in range(0, len(line), budget)] or [""]
        for piece in pieces:
            if chunks[-1] and size + len(piece) + 1 > budget:
                chunks.append([])
                size = 0
            chunks[-1].append(piece)
            size += len(piece) + 1
    return [c for c in chunks if c]


class SoapWriter:
    def __init__(
        self,
        client: ChatClient,
        *,
        max_tokens: int = 1200,
        temperature: float = 0.2,
        budget_chars: int = 60_000,
        on_request: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.client = client
        self.max_tokens = max_tokens
        self.temperature = temperature
        self.budget = budget_chars
        self.on_request = on_request

    async def _chat(self, model: str, messages: list[dict[str, str]]) -> str:
        if self.on_request is not None:
            await self.on_request()  # e.g. renew the job's lease between long calls
        reply = await self.client.chat(
            model, messages, temperature=self.temperature, max_tokens=self.max_tokens
        )
        return str(reply.text)

    async def _ask(self, model: str, messages: list[dict[str, str]]) -> _Attempt:
        """One request, and one retry naming the problem if the reply is malformed."""
        reply = await self._chat(model, messages)
        try:
            return _Attempt(parse_soap(reply), None, 1)
        except SoapFormatError as err:
            log.warning("soap_reply_malformed", attempt=1, error=str(err))
            retry = soap_prompt.retry_messages(messages, str(err))
        reply = await self._chat(model, retry)
        try:
            return _Attempt(parse_soap(reply), None, 2)
        except SoapFormatError as err:
            log.warning("soap_reply_malformed", attempt=2, error=str(err))
            return _Attempt(None, str(err), 2, [reply])

    async def write(self, model: str, lines: Sequence[str], *, has_roles: bool) -> WrittenNote:
        transcript = "\n".join(lines)
        if len(transcript) <= self.budget:
            got = await self._ask(model, soap_prompt.soap_messages(transcript, has_roles=has_roles))
            if got.note is not None:
                return WrittenNote.of(got.note, None, got.requests)
            # Keep the last reply as it came, for the reviewer to correct; no sections.
            raw = got.notes[-1].strip() if got.notes else ""
            problem = f"the model's note was malformed twice: {got.problem}"
            return WrittenNote(raw, {s: [] for s in SECTIONS}, problem, got.requests)
        return await self._write_long(model, lines, has_roles=has_roles)

    async def _write_long(
        self, model: str, lines: Sequence[str], *, has_roles: bool
    ) -> WrittenNote:
        chunks = split_lines(lines, self.budget)
        parts: list[SoapNote] = []
        problems: list[str] = []
        requests = 0
        for i, chunk in enumerate(chunks, 1):
            msgs = soap_prompt.part_messages("\n".join(chunk), i, len(chunks), has_roles=has_roles)
            got = await self._ask(model, msgs)
            requests += got.requests
            if got.note is None:
                problems.append(f"part {i} of {len(chunks)} could not be summarised")
            else:
                parts.append(got.note)
        log.info("soap_long_visit", count=len(chunks), chars=sum(map(len, lines)))
        merged, merge_requests, merge_problem = await self._merge(model, parts)
        requests += merge_requests
        if merge_problem:
            problems.append(merge_problem)
        return WrittenNote.of(merged, "; ".join(problems) or None, requests, len(chunks))

    async def _merge(self, model: str, notes: list[SoapNote]) -> tuple[SoapNote, int, str | None]:
        """Merge partial notes through the model, in groups that fit the budget."""
        requests = 0
        problem: str | None = None
        while len(notes) > 1:
            groups: list[list[SoapNote]] = [[]]
            size = 0
            for note in notes:
                n = len(note.text) + 40
                if groups[-1] and size + n > self.budget:
                    groups.append([])
                    size = 0
                groups[-1].append(note)
                size += n
            if len(groups) == len(notes):  # every note alone exceeds the budget: stop here
                return merge_mechanically(notes), requests, "parts too long to merge by model"
            merged: list[SoapNote] = []
            for group in groups:
                if len(group) == 1:
                    merged.append(group[0])
                    continue
                msgs = soap_prompt.merge_messages([n.sections for n in group])
                got = await self._ask(model, msgs)
                requests += got.requests
                if got.note is None:
                    problem = "the model could not merge the parts; all their bullets are listed"
                    merged.append(merge_mechanically(group))
                else:
                    merged.append(got.note)
            notes = merged
        if not notes:
            return merge_mechanically([]), requests, "no part could be summarised"
        return notes[0], requests, problem
