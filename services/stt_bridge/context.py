"""What the bridge's encounter runner, its sessions and their publishers share: the
replica's connections and settings (``BridgeContext``) and one encounter's fixed facts
(``EncounterInfo``). A low module: it names no runner, session or publisher.
"""

from __future__ import annotations

from dataclasses import dataclass

import redis.asyncio as aioredis

from services.stt_bridge.audio_hub import AudioHub
from services.stt_bridge.chunker import bytes_to_ms
from services.stt_bridge.config import BridgeSettings
from services.stt_bridge.lease import Leases
from services.stt_bridge.ledger import DoneLedger
from services.stt_bridge.metrics import BridgeMetrics
from services.stt_bridge.partials import PartialSink
from services.stt_bridge.state import EncounterStore
from shared.contracts import StreamNames, SttSettings


@dataclass
class BridgeContext:
    settings: BridgeSettings
    redis: aioredis.Redis
    names: StreamNames
    store: EncounterStore
    leases: Leases
    metrics: BridgeMetrics
    api_key: str
    latency_samples: list[float] | None = None  # benchmarks collect forward latencies
    audio: AudioHub | None = None  # the replica's shared audio reader (None: one XREAD each)
    partials: PartialSink | None = None  # the replica's partial publisher (None: awaited XADD)
    ledger: DoneLedger | None = None  # durable record of transcribed encounters (outside Redis)


@dataclass(frozen=True, slots=True)
class EncounterInfo:
    """One encounter's fixed facts, as its sessions and publishers need them."""

    eid: str
    stt: SttSettings
    resume_guard_ms: int  # a resumed session starts this far after a final's last word

    def ms(self, nbytes: int) -> float:
        return bytes_to_ms(nbytes, self.stt.sample_rate)
