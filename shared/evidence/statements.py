"""A note's evidence: every statement with its turns (``seqs``), how they were linked,
and its flags. The stored and served shape of CONTRACT_EVIDENCE.md."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

from shared.evidence.align import align, index_turns
from shared.evidence.check import SEVERITY_RANK, Finding, check_statement
from shared.evidence.meaning import FREQUENCY_CHANGED, VisitMeaning, meaning_findings
from shared.evidence.terms import Support

SECTIONS = ("subjective", "objective", "assessment", "plan")
NOT_DISCUSSED = "Not discussed."
Links = Literal["model", "computed", "none"]
# section -> per statement: the model's seqs, or None when the model gave none.
ModelLinks = Mapping[str, Sequence[Sequence[int] | None]]


def build_evidence(
    sections: Mapping[str, Sequence[str]],
    turns: Sequence[tuple[int, str]],
    model_links: ModelLinks | None = None,
) -> list[dict[str, Any]]:
    """Statements of ``sections`` (contract shape), linked and checked against ``turns``.

    The model's seqs are kept when they name real turns; otherwise the statement is
    aligned with the transcript (``links: computed``), or left unlinked (``none``).
    """
    by_seq = dict(turns)
    whole = Support.of("\n".join(text for _, text in turns))
    indexed = index_turns(turns)
    meaning = VisitMeaning.of(turns)
    out: list[dict[str, Any]] = []
    for section in SECTIONS:
        given = (model_links or {}).get(section) or []
        for index, text in enumerate(sections.get(section) or []):
            sid = f"{section}-{index}"
            if text.strip() == NOT_DISCUSSED:
                out.append(_statement(sid, section, index, text, [], "none", []))
                continue
            model = given[index] if index < len(given) else None
            seqs = sorted({s for s in (model or []) if s in by_seq})
            links: Links = "model"
            if not seqs:
                seqs = sorted(align(text, indexed))
                links = "computed" if seqs else "none"
            linked = Support.of("\n".join(by_seq[s] for s in seqs)) if seqs else None
            flags = [
                {
                    "id": f"{sid}:{i}",
                    "kind": f.kind,
                    "severity": f.severity,
                    "term": f.term,
                    "message": f.message,
                }
                for i, f in enumerate(_findings(text, section, linked, whole, meaning))
            ]
            out.append(_statement(sid, section, index, text, seqs, links, flags))
    return out


def _findings(
    text: str, section: str, linked: Support | None, whole: Support, meaning: VisitMeaning
) -> list[Finding]:
    """Term findings and meaning findings, most severe first, one per (kind, term)."""
    found: dict[tuple[str, str], Finding] = {}
    meant = meaning_findings(text, meaning, section)
    # A frequency that changes the dose is that flag, not also "frequency not said".
    by_frequency = any(f.kind == "dose" and f.rule.startswith(FREQUENCY_CHANGED) for f in meant)
    for f in [*meant, *check_statement(text, linked, whole)]:
        if not (by_frequency and f.kind == "frequency"):
            found.setdefault((f.kind, f.term), f)
    return sorted(found.values(), key=lambda f: -SEVERITY_RANK[f.severity])


def _statement(
    sid: str,
    section: str,
    index: int,
    text: str,
    seqs: list[int],
    links: Links,
    flags: list[dict[str, Any]],
) -> dict[str, Any]:
    return {
        "id": sid,
        "section": section,
        "index": index,
        "text": text,
        "seqs": seqs,
        "links": links,
        "flags": flags,
    }


def open_high_flags(statements: Sequence[Mapping[str, Any]] | None) -> int:
    return sum(
        1
        for st in statements or ()
        for f in st.get("flags") or ()
        if isinstance(f, Mapping) and f.get("severity") == "high"
    )
