"""The note as structured output: parsed with its seqs, and the fallbacks (a text reply,
a malformed one) through the real gateway simulator; the fault mode's fabrications."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from services.notes import soap_prompt
from services.notes.soap import SoapWriter
from services.notes.soap_format import SoapFormatError
from services.notes.soap_structured import parse_structured, readable
from shared.evidence import build_evidence
from shared.gateway import GatewayClient
from simulators.llm_server import LlmSimulator

LINES = [
    "Clinician: What brings you in today?",
    "Patient: My right knee has been hurting since I fell last week.",
    "Clinician: On exam there is swelling over the right knee.",
    "Clinician: This looks like a sprain of the medial ligament.",
    "Clinician: I'm going to prescribe ibuprofen 400 mg twice daily for ten days.",
]
SEQS = [10, 11, 12, 13, 14]
TURNS = [(seq, line.split(": ", 1)[1]) for seq, line in zip(SEQS, LINES, strict=True)]


def test_json_reply_is_parsed_with_seqs() -> None:
    reply = json.dumps(
        {
            "sections": {
                "subjective": [{"text": "- Right knee pain since a fall.", "seqs": [11]}],
                "objective": [{"text": "Swelling of the  right knee.", "seqs": [12, "x", True]}],
                "assessment": ["Medial ligament sprain."],
                "plan": [{"text": "Ibuprofen 400 mg BID.", "seqs": []}],
            }
        }
    )
    got = parse_structured(f"```json\n{reply}\n```")
    assert got.note.sections["subjective"] == ["Right knee pain since a fall."]
    assert got.note.sections["objective"] == ["Swelling of the right knee."]
    assert got.links == {
        "subjective": [[11]],
        "objective": [[12]],
        "assessment": [None],
        "plan": [None],
    }


def test_text_reply_is_accepted_without_links() -> None:
    got = parse_structured("Subjective:\n- Knee pain.\nObjective:\n- Swelling.\n"
                           "Assessment:\n- Sprain.\nPlan:\n- Ibuprofen.")  # fmt: skip
    assert got.links is None
    assert got.note.sections["plan"] == ["Ibuprofen."]


@pytest.mark.parametrize(
    ("reply", "problem"),
    [
        ('{"sections": {"subjective": []', "the reply is not valid JSON"),
        ('{"sections": {"subjective": ["a"], "objective": ["b"]}}',
         "missing section(s): Assessment, Plan"),
        ('{"sections": 3}', "the reply has no sections object"),
        ('{"sections": {"subjective": "a", "objective": [], "assessment": [], "plan": []}}',
         "the Subjective section is not a list"),
        ('{"sections": {"subjective": [], "objective": [], "assessment": [], "plan": []}}',
         "all four sections are empty"),
        ('{"sections": {"subjective": [7], "objective": [], "assessment": [], "plan": []}}',
         "a statement is neither text nor an object with text"),
    ],
)  # fmt: skip
def test_malformed_replies_name_the_problem(reply: str, problem: str) -> None:
    with pytest.raises(SoapFormatError) as err:
        parse_structured(reply)
    assert str(err.value) == problem


def test_a_rejected_json_reply_is_kept_readable() -> None:
    raw = '{"sections": {"subjective": [{"text": "Knee pain.", "seqs": [1]}]}}'
    assert readable(raw) == "Subjective:\n- Knee pain."
    assert readable("not json at all") == "not json at all"


async def test_writer_asks_for_structured_output_and_keeps_the_seqs(
    llm_sim: LlmSimulator, gateway: GatewayClient
) -> None:
    written = await SoapWriter(gateway).write("claude-sonnet-4-6", LINES, has_roles=True, seqs=SEQS)
    sent = llm_sim.stats.recent[-1]
    assert sent["response_format"]["type"] == "json_schema"
    assert "[14] Clinician: I'm going to prescribe" in sent["messages"][-1]["content"]
    assert written.problem is None
    assert written.requests == 1
    assert written.links is not None
    assert written.links["plan"] == [[14]]
    statements = build_evidence(written.sections, TURNS, written.links)
    plan = [s for s in statements if s["section"] == "plan"]
    assert [(s["seqs"], s["links"], s["flags"]) for s in plan] == [([14], "model", [])]


async def test_a_model_ignoring_the_schema_gets_computed_links(
    llm_sim: LlmSimulator, gateway: GatewayClient
) -> None:
    llm_sim.config.soap_ignore_schema = True
    written = await SoapWriter(gateway).write("claude-sonnet-4-6", LINES, has_roles=True, seqs=SEQS)
    assert written.problem is None
    assert written.links is None
    statements = build_evidence(written.sections, TURNS, written.links)
    linked = [s for s in statements if s["text"] != "Not discussed."]
    assert linked
    assert all(s["links"] == "computed" for s in linked)
    by_text = {s["text"]: s["seqs"] for s in linked}
    assert by_text["On exam there is swelling over the right knee."] == [12]


async def test_malformed_structured_reply_is_retried_then_kept_for_review(
    llm_sim: LlmSimulator, gateway: GatewayClient
) -> None:
    llm_sim.config.soap_malformed = 1  # the first reply lacks the Plan section
    written = await SoapWriter(gateway).write("claude-sonnet-4-6", LINES, has_roles=True, seqs=SEQS)
    assert written.problem is None
    assert written.requests == 2
    assert "A previous reply was not usable: missing section(s): Plan" in str(
        llm_sim.stats.recent[-1]["messages"][-1]["content"]
    )
    llm_sim.config.soap_malformed = 99
    bad = await SoapWriter(gateway).write("claude-sonnet-4-6", LINES, has_roles=True, seqs=SEQS)
    assert bad.problem == "the model's note was malformed twice: missing section(s): Plan"
    assert bad.text.startswith("Subjective:\n- ")
    assert "Plan" not in bad.text


async def test_fault_mode_fabricates_a_known_share_and_reports_it(
    llm_sim: LlmSimulator, tmp_path: Any
) -> None:
    log = tmp_path / "fabrications.jsonl"
    llm_sim.config.soap_fabricate_share = 1.0
    llm_sim.config.fabrication_log = log
    body = {
        "model": "claude-sonnet-4-6",
        "messages": soap_prompt.structured_messages(
            "\n".join(soap_prompt.numbered(LINES, SEQS)), has_roles=True
        ),
        "response_format": {"type": "json_schema", "json_schema": {"name": "soap_note"}},
    }
    async with httpx.AsyncClient(base_url=llm_sim.base_url) as client:
        r = await client.post(
            "/v1/chat/completions", json=body, headers={"Authorization": "sim-key"}
        )
    assert r.status_code == 200
    reply = json.loads(r.json()["choices"][0]["message"]["content"])["sections"]
    made = llm_sim.stats.fabrications
    statements = sum(1 for items in reply.values() for i in items if i["text"] != "Not discussed.")
    assert len(made) == statements == int(r.headers["x-medscribe-fabrications"])
    assert [json.loads(line) for line in log.read_text().splitlines()] == made
    for f in made:
        item = reply[f["section"]][f["index"]]
        assert item["text"] == f["text"] != f["original"]
        assert f["kind"] in (
            "dose", "drug", "laterality", "vital",
            "negation", "experiencer", "action", "temporality",
        )  # fmt: skip
    # Every fabrication is caught by the checker, and is high.
    statements_checked = build_evidence(
        {s: [i["text"] for i in items] for s, items in reply.items()},
        TURNS,
        {s: [i["seqs"] for i in items] for s, items in reply.items()},
    )
    fabricated = {(f["section"], f["text"]) for f in made}
    for st in statements_checked:
        if (st["section"], st["text"]) in fabricated:
            assert "high" in {f["severity"] for f in st["flags"]}, st["id"]
