"""Writing the SOAP note: one request for a normal visit, parts + merge for a long one.

Every reply is checked (``soap_format.parse_soap``); a bad one is retried once with the
problem named, then kept as ``needs_review``. Transcripts longer than the budget are cut
at turn boundaries into parts, each summarised as a partial SOAP note, and the parts are
merged (hierarchically if even they exceed the budget), so an hour-long visit is never
truncated. Gateway errors propagate: the scheduler retries the whole job later.

Given the turns' numbers, a visit that fits one request is asked for as structured output
(JSON schema: sections -> statements -> seqs); a text reply is accepted too. The parts
and merge of long visits stay in text form: their statements' links are computed later
(``shared.evidence``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import KW_ONLY, dataclass, field
from typing import Any, Protocol, TypeVar

from services.notes import soap_prompt
from services.notes.soap_format import (
    SECTIONS,
    SoapFormatError,
    SoapNote,
    merge_mechanically,
    parse_soap,
)
from services.notes.soap_structured import Links, parse_structured, readable
from shared.gateway_types import GatewayAuthError, GatewayRejected
from shared.logging import get_logger

log = get_logger(__name__)

T = TypeVar("T")


class ChatReply(Protocol):
    @property
    def text(self) -> str: ...


class ChatClient(Protocol):
    """What the writer needs of ``shared.gateway.GatewayClient``."""

    async def chat(
        self,
        model: str,
        messages: list[dict[str, str]],
        *,
        temperature: float,
        max_tokens: int,
        response_format: dict[str, Any] | None = None,
    ) -> Any: ...


@dataclass
class WrittenNote:
    text: str
    sections: dict[str, list[str]]
    problem: str | None = None  # set → the note needs review
    requests: int = 0
    parts: int = 1
    links: Links | None = None  # the model's seqs per statement (structured replies only)

    @classmethod
    def of(
        cls,
        note: SoapNote,
        problem: str | None,
        requests: int,
        parts: int = 1,
        links: Links | None = None,
    ) -> WrittenNote:
        return cls(note.text, note.sections, problem, requests, parts, links)


@dataclass
class _Attempt:
    note: SoapNote | None
    problem: str | None
    requests: int = 0
    raw: str = ""
    cut: bool = False  # the last reply stopped at max_tokens
    links: Links | None = None


CUT = "the reply was cut off at the token limit"
MAX_SPLIT_DEPTH = 4


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


def schema_refused(err: GatewayRejected) -> bool:
    """400/422 to a structured request: the schema feature, not the key, was refused."""
    return not isinstance(err, GatewayAuthError) and err.status in (400, 422)


def _halves(items: Sequence[T]) -> tuple[list[T], list[T]]:
    mid = len(items) // 2
    return list(items[:mid]), list(items[mid:])


@dataclass(eq=False)
class SoapWriter:
    """Writes notes through ``client``; a transcript longer than ``budget_chars`` is cut
    into parts (module docstring)."""

    client: ChatClient
    _: KW_ONLY
    max_tokens: int = 1200
    temperature: float = 0.2
    budget_chars: int = 60_000
    on_request: Callable[[], Awaitable[None]] | None = None
    requests: int = field(default=0, init=False)  # chat requests of the current note

    async def _chat(
        self, model: str, messages: list[dict[str, str]], structured: bool = False
    ) -> tuple[str, bool]:
        """The reply text, and whether it was cut off at ``max_tokens``."""
        if self.on_request is not None:
            await self.on_request()  # e.g. renew the job's lease between long calls
        self.requests += 1
        extra: dict[str, Any] = (
            {"response_format": soap_prompt.RESPONSE_FORMAT} if structured else {}
        )
        reply = await self.client.chat(
            model, messages, temperature=self.temperature, max_tokens=self.max_tokens, **extra
        )
        return str(reply.text), getattr(reply, "finish_reason", None) == "length"

    async def _ask(
        self,
        model: str,
        messages: list[dict[str, str]],
        *,
        retry_cut: bool = True,
        structured: bool = False,
    ) -> _Attempt:
        """One request; one retry naming the problem if the reply is malformed (or cut off,
        unless the caller would rather split the work than retry)."""
        problem = ""
        retry = soap_prompt.structured_retry_messages if structured else soap_prompt.retry_messages
        for attempt in (1, 2):
            ask = messages if attempt == 1 else retry(messages, problem)
            reply, cut = await self._chat(model, ask, structured)
            try:
                if structured:
                    got = parse_structured(reply)
                    note, links = got.note, got.links
                else:
                    note, links = parse_soap(reply), None
            except SoapFormatError as err:
                problem = CUT if cut else str(err)
            else:
                if not cut:
                    return _Attempt(note, None, attempt, reply, links=links)
                problem = CUT
            log.warning("soap_reply_malformed", attempt=attempt, error=problem)
            if cut and not retry_cut:
                return _Attempt(None, problem, attempt, reply, cut=True)
        return _Attempt(None, problem, 2, reply, cut=problem == CUT)

    async def write(
        self,
        model: str,
        lines: Sequence[str],
        *,
        has_roles: bool,
        seqs: Sequence[int] | None = None,
    ) -> WrittenNote:
        """The note of ``lines``; with ``seqs`` (each line's turn number) it is asked for
        as structured output whose statements cite their turns."""
        self.requests = 0
        structured = seqs is not None
        body = soap_prompt.numbered(lines, seqs) if seqs is not None else list(lines)
        transcript = "\n".join(body)
        if len(transcript) <= self.budget_chars:
            if structured:
                msgs = soap_prompt.structured_messages(transcript, has_roles=has_roles)
            else:
                msgs = soap_prompt.soap_messages(transcript, has_roles=has_roles)
            try:
                got = await self._ask(model, msgs, structured=structured)
            except GatewayRejected as err:
                if not structured or not schema_refused(err):
                    raise
                # The model or gateway does not take a JSON schema: ask as the guide did,
                # in text (statements are linked to turns afterwards, shared.evidence).
                log.warning("soap_structured_refused", status_code=err.status, model=model)
                plain = soap_prompt.soap_messages("\n".join(lines), has_roles=has_roles)
                got = await self._ask(model, plain)
            if got.note is not None:
                return WrittenNote.of(got.note, None, self.requests, links=got.links)
            if not got.cut or len(lines) < 2:
                # Keep the last reply as it came, for the reviewer to correct; no sections.
                problem = f"the model's note was malformed twice: {got.problem}"
                return WrittenNote(readable(got.raw), {s: [] for s in SECTIONS}, problem, 2)
            # The note of the whole visit does not fit in max_tokens: write it in parts.
            return await self._write_long(model, lines, len(transcript) // 2 + 1, has_roles)
        return await self._write_long(model, lines, self.budget_chars, has_roles)

    async def _write_long(
        self, model: str, lines: Sequence[str], budget: int, has_roles: bool
    ) -> WrittenNote:
        chunks = split_lines(lines, budget)
        parts: list[SoapNote] = []
        problems: list[str] = []
        for i, chunk in enumerate(chunks, 1):
            await self._part(model, chunk, i, len(chunks), has_roles, parts, problems, 0)
        log.info("soap_long_visit", count=len(chunks), turns=len(lines), chars=sum(map(len, lines)))
        merged, merge_problem = await self._merge(model, parts)
        if merge_problem:
            problems.append(merge_problem)
        return WrittenNote.of(merged, "; ".join(problems) or None, self.requests, len(parts))

    async def _part(
        self,
        model: str,
        chunk: list[str],
        i: int,
        n: int,
        has_roles: bool,
        out: list[SoapNote],
        problems: list[str],
        depth: int,
    ) -> None:
        """Summarise one part; a part whose note overflows max_tokens is halved."""
        msgs = soap_prompt.part_messages("\n".join(chunk), i, n, has_roles=has_roles)
        can_split = len(chunk) > 1 and depth < MAX_SPLIT_DEPTH
        got = await self._ask(model, msgs, retry_cut=not can_split)
        if got.note is not None:
            out.append(got.note)
        elif got.cut and can_split:
            for half in _halves(chunk):
                await self._part(model, half, i, n, has_roles, out, problems, depth + 1)
        else:
            problems.append(f"part {i} of {n} could not be summarised ({got.problem})")

    async def _merge(self, model: str, notes: list[SoapNote]) -> tuple[SoapNote, str | None]:
        """Merge partial notes through the model, in groups that fit the budget and whose
        merged note fits max_tokens; pairs the model cannot merge are merged mechanically."""
        problem: str | None = None
        max_group = len(notes)
        while len(notes) > 1:
            groups: list[list[SoapNote]] = [[]]
            size = 0
            for note in notes:
                n = len(note.text) + 40
                if groups[-1] and (size + n > self.budget_chars or len(groups[-1]) >= max_group):
                    groups.append([])
                    size = 0
                groups[-1].append(note)
                size += n
            merged: list[SoapNote] = []
            shrink = False
            for group in groups:
                if len(group) == 1:
                    merged.append(group[0])
                    continue
                msgs = soap_prompt.merge_messages([n.sections for n in group])
                got = await self._ask(model, msgs, retry_cut=len(group) <= 2)
                if got.note is not None:
                    merged.append(got.note)
                elif got.cut and len(group) > 2:
                    shrink = True  # merge fewer notes at a time
                    merged.extend(group)
                else:
                    problem = "the model could not merge the parts; all their bullets are listed"
                    merged.append(merge_mechanically(group))
            if shrink:
                max_group = max(2, max_group // 2)
            elif len(merged) == len(notes):  # every note alone exceeds the budget
                return merge_mechanically(notes), "parts too long to merge by the model"
            notes = merged
        if not notes:
            return merge_mechanically([]), "no part could be summarised"
        return notes[0], problem
