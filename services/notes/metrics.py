"""Prometheus metrics of the notes service (own registry: several instances per process
are fine in tests). Labels are statuses and error classes only, never identifiers or text."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from services.notes.db.models import ENCOUNTER_STATUSES


class NotesMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.encounters = Gauge(
            "medscribe_notes_encounters",
            "Encounters in the database by status.",
            ["status"],
            registry=r,
        )
        self.stop_to_note = Histogram(
            "medscribe_notes_stop_to_note_seconds",
            "Time from the end of the visit (EncounterStopped) to its stored note.",
            buckets=(1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1800, 3600),
            registry=r,
        )
        self.gateway_errors = Counter(
            "medscribe_notes_gateway_errors_total",
            "Note jobs deferred because the LLM Gateway failed, by error class.",
            ["error"],
            registry=r,
        )
        self.notes = Counter(
            "medscribe_notes_notes_written_total",
            "Notes stored, by note status.",
            ["status"],
            registry=r,
        )
        self.soap_requests = Counter(
            "medscribe_notes_soap_requests_total", "Chat requests sent for SOAP notes.", registry=r
        )
        self.turns = Counter(
            "medscribe_notes_turns_stored_total", "Turn entries stored or replaced.", registry=r
        )
        self.control = Counter(
            "medscribe_notes_control_events_total", "Control events applied.", ["type"], registry=r
        )
        self.export_errors = Counter(
            "medscribe_notes_export_errors_total", "Failed file exports.", registry=r
        )
        for status in ENCOUNTER_STATUSES:
            self.encounters.labels(status=status).set(0)

    def set_encounter_counts(self, counts: dict[str, int]) -> None:
        for status in set(ENCOUNTER_STATUSES) | set(counts):
            self.encounters.labels(status=status).set(counts.get(status, 0))

    def render(self) -> bytes:
        return generate_latest(self.registry)
