"""FHIR export of a signed note: a ``DocumentReference`` with the note and transcript.

``fhir.resources`` 8.3 has no R4 package; R4B (FHIR 4.3.0) is wire-compatible with R4 for
DocumentReference, and we say so honestly: the HTTP response carries
``application/fhir+json; fhirVersion=4.3``. The library does not enforce code bindings or
1..* cardinality on an empty list (libraries.md §7), so :func:`check_document` adds our
own checks on top of the model validation.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from fhir.resources.R4B.documentreference import DocumentReference

from shared.errors import MedscribeError

FHIR_VERSION = "4.3"  # R4B
FHIR_MEDIA_TYPE = f"application/fhir+json; fhirVersion={FHIR_VERSION}"
LOINC = "http://loinc.org"
V2_0203 = "http://terminology.hl7.org/CodeSystem/v2-0203"
PROGRESS_NOTE = ("11506-3", "Progress note")
CATEGORY_SYSTEM = "http://hl7.org/fhir/us/core/CodeSystem/us-core-documentreference-category"
NOTE_SYSTEM = "urn:medscribe:note"
ENCOUNTER_SYSTEM = "urn:medscribe:encounter"
CLINICIAN_SYSTEM = "urn:medscribe:clinician"
# The clinic's own MRN system: set MEDSCRIBE_FHIR_MRN_SYSTEM to its URI when it has one.
MRN_SYSTEM = "urn:medscribe:mrn"
TEXT_PLAIN = "text/plain; charset=utf-8"

DOCUMENT_STATUSES = frozenset({"current", "superseded", "entered-in-error"})
COMPOSITION_STATUSES = frozenset({"preliminary", "final", "amended", "entered-in-error"})


class FhirExportError(MedscribeError, ValueError):
    """The export cannot be built; the message names the rule, never note content."""


@dataclass(frozen=True)
class SignedNote:
    """What the export needs, detached from the database rows."""

    encounter_id: str
    version: int
    kind: str
    text: str
    signed_by: str
    signed_at: datetime
    clinician: str | None
    started_at: datetime
    stopped_at: datetime | None
    transcript_text: str
    language: str = "en"
    patient_name: str | None = None
    patient_mrn: str | None = None


def _b64(text: str) -> str:
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


def _instant(value: datetime) -> str:
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _attachment(title: str, text: str, created: datetime, language: str) -> dict[str, Any]:
    return {
        "attachment": {
            "contentType": TEXT_PLAIN,
            "language": language,
            "data": _b64(text),
            "title": title,
            "creation": _instant(created),
        }
    }


def build_resource(note: SignedNote) -> dict[str, Any]:
    """The DocumentReference as a JSON-ready dict (not yet validated)."""
    if not note.text.strip():
        raise FhirExportError("the signed note is empty")
    content = [_attachment("SOAP note", note.text, note.signed_at, note.language)]
    if note.transcript_text.strip():
        content.append(
            _attachment("Encounter transcript", note.transcript_text, note.signed_at, note.language)
        )
    period: dict[str, str] = {"start": _instant(note.started_at)}
    if note.stopped_at is not None:
        period["end"] = _instant(note.stopped_at)
    resource: dict[str, Any] = {
        "resourceType": "DocumentReference",
        "masterIdentifier": {
            "system": NOTE_SYSTEM,
            "value": f"{note.encounter_id}/v{note.version}",
        },
        "status": "current",
        # An addendum amends a note that was already signed.
        "docStatus": "amended" if note.kind == "addendum" else "final",
        "type": {
            "coding": [{"system": LOINC, "code": PROGRESS_NOTE[0], "display": PROGRESS_NOTE[1]}],
            "text": PROGRESS_NOTE[1],
        },
        "category": [
            {
                "coding": [
                    {"system": CATEGORY_SYSTEM, "code": "clinical-note", "display": "Clinical Note"}
                ]
            }
        ],
        "date": _instant(note.signed_at),
        "authenticator": {"display": note.signed_by},
        "description": f"SOAP note, version {note.version} (medscribe)",
        "content": content,
        "context": {
            "encounter": [
                {
                    "type": "Encounter",
                    "identifier": {"system": ENCOUNTER_SYSTEM, "value": note.encounter_id},
                }
            ],
            "period": period,
        },
    }
    subject: dict[str, Any] = {"type": "Patient"}
    if note.patient_mrn:
        subject["identifier"] = {
            "type": {
                "coding": [{"system": V2_0203, "code": "MR", "display": "Medical record number"}]
            },
            "system": MRN_SYSTEM,
            "value": note.patient_mrn,
        }
    if note.patient_name:
        subject["display"] = note.patient_name
    if len(subject) > 1:
        resource["subject"] = subject
    if note.clinician:
        resource["author"] = [
            {
                "type": "Practitioner",
                "identifier": {"system": CLINICIAN_SYSTEM, "value": note.clinician},
            }
        ]
    return resource


def check_document(resource: dict[str, Any]) -> DocumentReference:
    """Validate with fhir.resources, then the rules the library does not enforce."""
    if resource.get("status") not in DOCUMENT_STATUSES:
        raise FhirExportError("DocumentReference.status is not in its required value set")
    doc_status = resource.get("docStatus")
    if doc_status is not None and doc_status not in COMPOSITION_STATUSES:
        raise FhirExportError("DocumentReference.docStatus is not in its required value set")
    content = resource.get("content")
    if not isinstance(content, list) or not content:
        raise FhirExportError("DocumentReference.content needs at least one attachment")
    for item in content:
        attachment = item.get("attachment") if isinstance(item, dict) else None
        if not isinstance(attachment, dict) or not attachment.get("data"):
            raise FhirExportError("every DocumentReference attachment needs inline data")
        if not str(attachment.get("contentType", "")).startswith("text/plain"):
            raise FhirExportError("attachments must be text/plain")
    try:
        return DocumentReference.model_validate(resource)
    except ValueError as err:
        # pydantic's message would quote the values; give the failing locations only.
        errors = getattr(err, "errors", None)
        where = ""
        if callable(errors):
            where = ", ".join(
                ".".join(str(p) for p in e["loc"]) for e in errors(include_input=False)[:5]
            )
        raise FhirExportError(f"DocumentReference does not validate: {where}") from None


def export_document(note: SignedNote) -> str:
    """Build, check and serialise the DocumentReference as JSON text."""
    document = check_document(build_resource(note))
    return json.dumps(json.loads(document.model_dump_json(exclude_none=True)), indent=2)
