"""FHIR export: the signed note as an R4B DocumentReference, validated by fhir.resources."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import httpx
import pytest
from fhir.resources.R4B.documentreference import DocumentReference

from services.notes.api.fhir import (
    FhirExportError,
    SignedNote,
    build_resource,
    check_document,
    export_document,
)
from services.notes.db.engine import Database
from tests.api.seeding import add_encounter, bearer


def _note(**changes: object) -> SignedNote:
    base = SignedNote(
        encounter_id="enc-1",
        version=2,
        kind="edited",
        text="Subjective:\n- Cough.\n",
        signed_by="dr-a",
        signed_at=datetime(2026, 11, 2, 9, 30, tzinfo=UTC),
        clinician="dr-a",
        started_at=datetime(2026, 11, 2, 9, 0, tzinfo=UTC),
        stopped_at=datetime(2026, 11, 2, 9, 12, tzinfo=UTC),
        transcript_text="[09:00:00] Clinician: Hello.\n",
    )
    return SignedNote(**{**base.__dict__, **changes})  # type: ignore[arg-type]


async def test_export_endpoint_validates(
    client: httpx.AsyncClient, db: Database, tokens: dict[str, str]
) -> None:
    enc = await add_encounter(db, note="signed")
    r = await client.get(f"/v1/encounters/{enc.encounter_id}/fhir", headers=bearer(tokens["staff"]))
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/fhir+json; fhirVersion=4.3"
    doc = DocumentReference.model_validate_json(r.content)
    assert doc.status == "current"
    assert doc.docStatus == "final"
    coding = doc.type.coding[0]
    assert (coding.system, coding.code) == ("http://loinc.org", "11506-3")
    assert doc.masterIdentifier.value == f"{enc.encounter_id}/v1"
    assert doc.context.encounter[0].identifier.value == enc.encounter_id
    assert [c.attachment.contentType for c in doc.content] == ["text/plain; charset=utf-8"] * 2
    # On the wire the attachments are base64 (the model hands back decoded bytes).
    note_raw, transcript_raw = (c["attachment"]["data"] for c in r.json()["content"])
    note_text = base64.b64decode(note_raw, validate=True).decode()
    assert note_text.startswith("Subjective:\n- Dry cough for two weeks.")
    transcript = base64.b64decode(transcript_raw, validate=True).decode()
    assert "Patient: I have had a dry cough for two weeks." in transcript
    assert doc.author[0].identifier.value == "dr-a"
    assert doc.authenticator.display == "clin-a"


async def test_unsigned_note_is_not_exported(
    client: httpx.AsyncClient, db: Database, tokens: dict[str, str]
) -> None:
    enc = await add_encounter(db, note="draft")
    r = await client.get(f"/v1/encounters/{enc.encounter_id}/fhir", headers=bearer(tokens["admin"]))
    assert r.status_code == 409
    assert r.json() == {"detail": "only a signed note can be exported"}


def test_addendum_is_amended() -> None:
    doc = check_document(build_resource(_note(kind="addendum")))
    assert doc.docStatus == "amended"


def test_no_transcript_leaves_one_attachment() -> None:
    resource = build_resource(_note(transcript_text="  "))
    assert len(resource["content"]) == 1
    check_document(resource)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"status": "bogus"}, "status"),  # fhir.resources does not check the binding
        ({"docStatus": "done"}, "docStatus"),
        ({"content": []}, "at least one attachment"),  # nor 1..* on an empty list
        ({"content": [{"attachment": {"contentType": "text/plain", "data": ""}}]}, "inline"),
        ({"content": [{"attachment": {"contentType": "application/pdf", "data": "eA=="}}]}, "text"),
        ({"date": "yesterday"}, "does not validate: date"),
    ],
)
def test_our_checks_catch_what_the_library_misses(change: dict[str, object], message: str) -> None:
    resource = {**build_resource(_note()), **change}
    with pytest.raises(FhirExportError, match=message):
        check_document(resource)


def test_library_alone_accepts_a_bogus_status() -> None:
    """Why check_document exists (libraries.md §7): the model accepts what FHIR forbids."""
    resource = {**build_resource(_note()), "status": "bogus", "content": []}
    DocumentReference.model_validate(resource)


def test_empty_note_is_refused_and_errors_hold_no_content() -> None:
    with pytest.raises(FhirExportError) as err:
        export_document(_note(text=" \n"))
    assert "Cough" not in str(err.value)
    resource = {**build_resource(_note()), "date": "secret-text-in-date"}
    with pytest.raises(FhirExportError) as err2:
        check_document(resource)
    assert "secret" not in str(err2.value)
