"""Prometheus metrics of one bridge process (own registry: several bridges may share a test
process). Labels are codes and encounter ids only, never text."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from shared.metrics import MetricSet


class BridgeMetrics(MetricSet):
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        super().__init__(registry)
        self.active = self.gauge(
            "medscribe_bridge_active_encounters", "Encounters this replica streams."
        )
        self.reconnects = self.counter(
            "medscribe_bridge_reconnects_total",
            "Sessions ended by the server or network, by close code.",
            ["close_code"],
        )
        self.audio_lag = self.gauge(
            "medscribe_bridge_audio_lag_seconds",
            "Age of the newest audio sent to the STT service, per encounter.",
            ["encounter_id"],
        )
        self.turns = self.counter(
            "medscribe_bridge_turns_published_total", "Final turns published."
        )
        self.partials = self.counter(
            "medscribe_bridge_partials_published_total", "Partial turns published."
        )
        self.partials_coalesced = self.counter(
            "medscribe_bridge_partials_coalesced_total",
            "Partial turns replaced by a newer one of the same encounter before publication.",
        )
        self.state_restored = self.counter(
            "medscribe_bridge_state_restored_total",
            "Times Redis had lost this bridge's newest turns (failover) and they were put back.",
        )
        self.gaps = self.counter(
            "medscribe_bridge_turn_gaps_total",
            "Final turns that arrived unusable and were recorded as gaps.",
        )
        self.sessions = self.counter("medscribe_bridge_stt_sessions_total", "STT sessions opened.")
        self.encounters = self.counter(
            "medscribe_bridge_encounters_total",
            "Encounters ended by this replica, by outcome.",
            ["outcome"],
        )
        self.speaker_revisions = self.counter(
            "medscribe_bridge_speaker_revisions_total",
            "Turns named by SpeakerRevision: applied, or of a turn not published here.",
            ["outcome"],
        )
        self.unknown_messages = self.counter(
            "medscribe_bridge_unknown_messages_total",
            "Server messages of unknown or malformed type (ignored).",
            ["type"],
        )
        self.forward_latency = self.histogram(
            "medscribe_bridge_forward_latency_seconds",
            "From capture's XADD of a frame to the WebSocket send of its audio.",
            buckets=(0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5, 1, 2, 5, 10, 30),
        )
