"""Re-chunking capture frames (any size, any timing) into streaming messages of 50-1000 ms.

Every chunk holds whole samples. Normal chunks hold exactly the target duration; an idle
flush sends what is buffered once it reaches the 50 ms minimum; the last chunk of an
encounter is padded with silence up to 50 ms (assemblyai-protocol.md §9.2), so no message
can ever trigger a 3007 "input duration violation".
"""

from __future__ import annotations

import math

MIN_MS = 50
MAX_MS = 1000
BYTES_PER_SAMPLE = 2  # PCM16LE


def ms_to_bytes(ms: float, sample_rate: int, *, ceil: bool = False) -> int:
    """Whole samples covering ``ms`` (rounded down, or up with ``ceil``), as bytes."""
    samples = sample_rate * ms / 1000
    n = math.ceil(samples - 1e-9) if ceil else math.floor(samples + 1e-9)
    return n * BYTES_PER_SAMPLE


def bytes_to_ms(nbytes: int, sample_rate: int) -> float:
    return nbytes / BYTES_PER_SAMPLE / sample_rate * 1000


class Rechunker:
    def __init__(self, sample_rate: int = 16000, target_ms: int = 100) -> None:
        if not MIN_MS <= target_ms <= MAX_MS:
            raise ValueError(f"chunk target must be {MIN_MS}..{MAX_MS} ms")
        self.sample_rate = sample_rate
        self.target = ms_to_bytes(target_ms, sample_rate)
        self.min = ms_to_bytes(MIN_MS, sample_rate, ceil=True)
        self.max = ms_to_bytes(MAX_MS, sample_rate)
        self._buf = bytearray()

    @property
    def buffered(self) -> int:
        return len(self._buf)

    def feed(self, pcm: bytes) -> None:
        self._buf += pcm

    def take(self) -> bytes | None:
        """One target-sized chunk, or None when less than that is buffered."""
        if len(self._buf) < self.target:
            return None
        return self._cut(self.target)

    def take_idle(self) -> bytes | None:
        """Everything buffered (whole samples, at most 1000 ms) if it reaches 50 ms."""
        usable = len(self._buf) - len(self._buf) % BYTES_PER_SAMPLE
        if usable < self.min:
            return None
        return self._cut(min(usable, self.max))

    def take_final(self) -> list[bytes]:
        """Drain at the end of an encounter: the tail padded with silence to 50 ms."""
        out: list[bytes] = []
        while (chunk := self.take()) is not None:
            out.append(chunk)
        if self._buf:
            tail = bytes(self._buf)
            if len(tail) % BYTES_PER_SAMPLE:
                tail += b"\x00"
            out.append(tail + b"\x00" * max(0, self.min - len(tail)))
            self._buf.clear()
        return out

    def clear(self) -> None:
        self._buf.clear()

    def _cut(self, n: int) -> bytes:
        chunk = bytes(self._buf[:n])
        del self._buf[:n]
        return chunk
