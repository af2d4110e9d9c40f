"""The evaluation report: per encounter and overall, as JSON and Markdown (figures only,
never dialogue or note text)."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from medscribe.evaluation.direct import EncounterResult
from medscribe.evaluation.metrics import ALARM_AT, CAUGHT_AT, CheckScore, group_of

TARGET_DETECTION = 0.97
TARGET_FALSE_ALARMS = 0.05


def _rate(num: int, den: int) -> float | None:
    return round(num / den, 4) if den else None


def _total(scores: Sequence[CheckScore]) -> CheckScore:
    total = CheckScore()
    for s in scores:
        for name in ("statements", "with_evidence", "unsupported", "fabricated", "caught",
                     "true_statements", "false_alarms"):  # fmt: skip
            setattr(total, name, getattr(total, name) + getattr(s, name))
        for name in ("links", "flags", "flag_kinds", "caught_by_kind", "fabricated_by_kind",
                     "false_alarms_by_kind", "false_alarms_by_group"):  # fmt: skip
            counter: Counter[str] = getattr(total, name)
            counter.update(getattr(s, name))
    return total


def _checks(s: CheckScore) -> dict[str, Any]:
    return {
        "statements": s.statements,
        "evidence_share": _rate(s.with_evidence, s.statements),
        "links": dict(s.links),
        "flags": dict(s.flags),
        "high_flags_by_kind": dict(s.flag_kinds),
        "unsupported_statements": s.unsupported,
        "fabricated": s.fabricated,
        "caught": s.caught,
        "detection_rate": _rate(s.caught, s.fabricated),
        "fabricated_by_kind": dict(s.fabricated_by_kind),
        "caught_by_kind": dict(s.caught_by_kind),
        "true_statements": s.true_statements,
        "false_alarms": s.false_alarms,
        "false_alarm_rate": _rate(s.false_alarms, s.true_statements),
        "false_alarms_by_kind": dict(s.false_alarms_by_kind),
        # Meaning fabrications (issue 25) apart from the number/drug/side ones.
        "by_group": {group: _group(s, group) for group in ("meaning", "terms")},
    }


def _group(s: CheckScore, group: str) -> dict[str, Any]:
    made = sum(v for k, v in s.fabricated_by_kind.items() if group_of(k) == group)
    caught = sum(v for k, v in s.caught_by_kind.items() if group_of(k) == group)
    alarms = s.false_alarms_by_group[group]
    return {
        "fabricated": made,
        "caught": caught,
        "detection_rate": _rate(caught, made),
        "false_alarms": alarms,
        "false_alarm_rate": _rate(alarms, s.true_statements),
    }


@dataclass
class Meta:
    mode: str
    data: str
    llm: str
    models: dict[str, str]
    fabricate: float
    seed: int | None
    seconds: float


def build(results: Sequence[EncounterResult], meta: Meta) -> dict[str, Any]:
    n = len(results) or 1
    total = _total([r.checks for r in results])
    overall = {
        "encounters": len(results),
        "rouge1": round(sum(r.rouge["rouge1"] for r in results) / n, 4),
        "rouge2": round(sum(r.rouge["rouge2"] for r in results) / n, 4),
        "rougeL": round(sum(r.rouge["rougeL"] for r in results) / n, 4),
        "section_completeness": round(sum(r.completeness for r in results) / n, 4),
        "notes_with_problem": sum(r.problem is not None for r in results),
        **_checks(total),
    }
    if meta.fabricate > 0:
        det, fa = overall["detection_rate"], overall["false_alarm_rate"]
        overall["target_met"] = (
            det is not None and fa is not None and det >= TARGET_DETECTION
            and fa <= TARGET_FALSE_ALARMS
        )  # fmt: skip
    return {
        "meta": {
            **meta.__dict__,
            "caught_means": f"a {'/'.join(CAUGHT_AT)} flag on the fabricated statement",
            "false_alarm_means": f"a {'/'.join(ALARM_AT)} flag on a true statement",
        },
        "overall": overall,
        "encounters": [
            {
                "encounter_id": r.encounter_id,
                "turns": r.turns,
                "edited_turns": r.edited,
                "edit_fallbacks": r.edit_fallbacks,
                "requests": r.requests,
                "note_problem": r.problem is not None,
                **r.rouge,
                "section_completeness": r.completeness,
                **_checks(r.checks),
                "seconds": r.seconds,
            }
            for r in results
        ],
    }


def _fmt(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def markdown(report: dict[str, Any]) -> str:
    meta, o = report["meta"], report["overall"]
    lines = [
        f"# ACI-Bench evaluation ({meta['mode']})",
        "",
        f"- data: `{meta['data']}`, encounters: {o['encounters']}",
        f"- LLM: {meta['llm']}; models: edit `{meta['models']['edit']}`, "
        f"note `{meta['models']['note']}`",
        f"- fabricated share: {meta['fabricate']}, seed: {meta['seed']}; run time "
        f"{meta['seconds']:.1f} s",
        f"- caught = {meta['caught_means']}; false alarm = {meta['false_alarm_means']}",
        "",
        "## Overall",
        "",
        "| metric | value |",
        "|---|---|",
    ]
    for key in ("rouge1", "rouge2", "rougeL", "section_completeness", "evidence_share",
                "statements", "unsupported_statements", "notes_with_problem", "fabricated",
                "caught", "detection_rate", "true_statements", "false_alarms",
                "false_alarm_rate", "target_met"):  # fmt: skip
        if key in o:
            lines.append(f"| {key} | {_fmt(o[key])} |")
    lines += [
        f"| links | {', '.join(f'{k}: {v}' for k, v in sorted(o['links'].items()))} |",
        f"| flags | {', '.join(f'{k}: {v}' for k, v in sorted(o['flags'].items()))} |",
    ]
    if o.get("fabricated_by_kind"):
        per_kind = ", ".join(
            f"{k}: {o['caught_by_kind'].get(k, 0)}/{v}"
            for k, v in sorted(o["fabricated_by_kind"].items())
        )
        lines.append(f"| caught by kind | {per_kind} |")
        for group, g in sorted(o.get("by_group", {}).items()):
            lines.append(
                f"| {group} kinds | caught {g['caught']}/{g['fabricated']} "
                f"({_fmt(g['detection_rate'])}); true statements with such a flag: "
                f"{g['false_alarms']} ({_fmt(g['false_alarm_rate'])}) |"
            )
    if o.get("false_alarms_by_kind"):
        lines.append(
            "| false alarms by flag kind | "
            + ", ".join(f"{k}: {v}" for k, v in sorted(o["false_alarms_by_kind"].items()))
            + " |"
        )
    lines += [
        "",
        "## Per encounter",
        "",
        "| encounter | turns | R-1 | R-2 | R-L | sections | evidence | statements | "
        "unsupported | fabricated | caught | false alarms |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for e in report["encounters"]:
        lines.append(
            f"| {e['encounter_id']} | {e['turns']} | {e['rouge1']:.3f} | {e['rouge2']:.3f} | "
            f"{e['rougeL']:.3f} | {e['section_completeness']:.2f} | "
            f"{_fmt(e['evidence_share'])} | {e['statements']} | "
            f"{e['unsupported_statements']} | {e['fabricated']} | {e['caught']} | "
            f"{e['false_alarms']} |"
        )
    return "\n".join(lines) + "\n"


def write(report: dict[str, Any], out: Path, name: str) -> tuple[Path, Path]:
    out.mkdir(parents=True, exist_ok=True)
    json_path, md_path = out / f"{name}.json", out / f"{name}.md"
    json_path.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    md_path.write_text(markdown(report), encoding="utf-8")
    return json_path, md_path
