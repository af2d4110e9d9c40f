"""The live view's side of the benchmark: when each partial and edited turn reaches a
reader of the streams (one blocking XREAD over all rooms, as the capture agent's watcher
does per room), stamped with wall time on arrival."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from typing import Any

from bench.probe_sim import text_hash
from shared.contracts import StreamNames


@dataclass
class Arrivals:
    partials: list[tuple[str, str, float]] = field(default_factory=list)  # (eid, hash, t)
    edited: list[tuple[str, str, int, float]] = field(default_factory=list)  # eid, sess, order, t
    # turns published unedited (quota wait exceeded, gateway down): (eid, sess, order)
    fallback: set[tuple[str, str, int]] = field(default_factory=set)


async def observe(redis: Any, names: StreamNames, eids: list[str], stop: asyncio.Event,
                  out: Arrivals) -> None:  # fmt: skip
    positions: dict[str, str] = {names.edited: "0"}
    positions.update({names.partials(e): "0" for e in eids})
    partial_stream = {names.partials(e): e for e in eids}
    while not stop.is_set():
        reply: Any = await redis.xread(positions, count=500, block=200)
        now = time.time()
        for stream_b, entries in reply or []:
            stream = stream_b.decode() if isinstance(stream_b, bytes) else stream_b
            for entry_id, fields in entries:
                positions[stream] = entry_id
                data = json.loads(fields[b"data"])
                if stream == names.edited:
                    key = (data["encounter_id"], data["stt_session_id"], data["turn_order"])
                    out.edited.append((*key, now))
                    if data.get("edit_status") == "fallback":
                        out.fallback.add(key)
                else:
                    out.partials.append((partial_stream[stream], text_hash(data["text"]), now))
