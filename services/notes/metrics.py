"""Prometheus metrics of the notes service (own registry: several instances per process
are fine in tests). Labels are statuses and error classes only, never identifiers or text."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest

from services.notes.status import EncounterStatus
from shared.metrics import MetricSet


class NotesMetrics(MetricSet):
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        super().__init__(registry)
        self.encounters = self.gauge(
            "medscribe_notes_encounters", "Encounters in the database by status.", ["status"]
        )
        self.stop_to_note = self.histogram(
            "medscribe_notes_stop_to_note_seconds",
            "Time from the end of the visit (EncounterStopped) to its stored note.",
            buckets=(1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1800, 3600),
        )
        self.gateway_errors = self.counter(
            "medscribe_notes_gateway_errors_total",
            "Note jobs deferred because the LLM Gateway failed, by error class.",
            ["error"],
        )
        self.note_errors = self.counter(
            "medscribe_notes_note_errors_total",
            "Note jobs stopped by an error that is not the gateway's (a bug, a database "
            "blip), by error class; retried up to MEDSCRIBE_NOTE_MAX_ATTEMPTS.",
            ["error"],
        )
        self.notes = self.counter(
            "medscribe_notes_notes_written_total", "Notes stored, by note status.", ["status"]
        )
        self.soap_requests = self.counter(
            "medscribe_notes_soap_requests_total", "Chat requests sent for SOAP notes."
        )
        self.turns = self.counter(
            "medscribe_notes_turns_stored_total", "Turn entries stored or replaced."
        )
        self.control = self.counter(
            "medscribe_notes_control_events_total", "Control events applied.", ["type"]
        )
        self.room_gate = self.counter(
            "medscribe_notes_room_gate_total",
            "Rooms' control messages forwarded or refused by the room gate, by outcome.",
            ["outcome"],
        )
        self.export_errors = self.counter(
            "medscribe_notes_export_errors_total", "Failed file exports."
        )
        # Redis budget and the shared streams (services.notes.housekeeping). Stream labels
        # are the logical names (control, turns, turns:edited, dead), groups are service names.
        self.redis_released = self.counter(
            "medscribe_notes_redis_released_total",
            "Visits whose audio and other Redis keys were deleted once durable.",
        )
        self.redis_used_memory = self.gauge(
            "medscribe_redis_used_memory_bytes", "Redis INFO used_memory."
        )
        self.redis_maxmemory = self.gauge(
            "medscribe_redis_maxmemory_bytes", "Redis maxmemory (0 = no limit)."
        )
        self.stream_length = self.gauge(
            "medscribe_redis_stream_length", "Entries in a shared stream.", ["stream"]
        )
        self.stream_trimmed = self.counter(
            "medscribe_redis_stream_trimmed_total",
            "Entries trimmed from a shared stream after every group acknowledged them.",
            ["stream"],
        )
        self.oldest_unacked = self.gauge(
            "medscribe_redis_oldest_unacked_seconds",
            "Age of the oldest entry a consumer group has not acknowledged (0 = none).",
            ["stream", "group"],
        )
        self.dead_letter_alert = self.gauge(
            "medscribe_redis_dead_letter_alert",
            "1 while the dead-letter stream holds at least MEDSCRIBE_DEAD_LETTER_ALERT entries.",
        )
        self.warnings: list[str] = []  # shown by /readyz (reasons, never content)
        for status in EncounterStatus:
            self.encounters.labels(status=status).set(0)

    def set_encounter_counts(self, counts: dict[str, int]) -> None:
        for status in {*EncounterStatus, *counts}:
            self.encounters.labels(status=status).set(counts.get(status, 0))

    def render(self) -> bytes:
        return generate_latest(self.registry)
