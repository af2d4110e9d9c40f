"""The local spool: where an encounter's frames and control messages wait for Redis.

Layout, one directory per encounter under ``spool_dir``::

    <encounter_id>/meta.json   encounter id and stream prefix (for recovery by a later run)
    <encounter_id>/spool.bin   records, appended in capture order
    <encounter_id>/flushed     byte offset up to which records are confirmed in Redis
    <encounter_id>/stopped     present once EncounterStopped is in Redis or in the spool
    <encounter_id>/lock        flock held by the agent that owns the encounter

A record is ``MAGIC kind seq length crc32`` then the payload: a frame's PCM, or a control
message as JSON ``{"stream": ..., "fields": {...}}``. The CRC covers kind, seq and payload,
so a record torn by a crash or power cut is recognised and ignored, never sent.
The directory exists for the whole encounter (not only while spooling), so an agent killed
at any moment leaves enough behind for the next start to finish the visit.
"""

from __future__ import annotations

import asyncio
import fcntl
import json
import os
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shared.errors import MedscribeError
from shared.logging import get_logger
from shared.private_files import DIR_MODE, open_private, private_dir

log = get_logger(__name__)

MAGIC = b"MSR1"
_HEADER = struct.Struct("<4scqII")  # magic, kind, seq, payload length, crc32
KIND_FRAME = b"F"
KIND_CONTROL = b"C"


class SpoolFull(MedscribeError):
    """The spool reached its disk budget; the message is safe to show."""


@dataclass(frozen=True)
class Record:
    kind: bytes
    seq: int  # frame seq; -1 for control records
    payload: bytes
    end: int  # byte offset just past this record in spool.bin

    @property
    def is_frame(self) -> bool:
        return self.kind == KIND_FRAME

    def control(self) -> tuple[str, dict[str, str]]:
        doc = json.loads(self.payload)
        return str(doc["stream"]), {str(k): str(v) for k, v in doc["fields"].items()}


def encode_record(kind: bytes, seq: int, payload: bytes) -> bytes:
    crc = zlib.crc32(kind + struct.pack("<q", seq) + payload)
    return _HEADER.pack(MAGIC, kind, seq, len(payload), crc) + payload


def control_payload(stream: str, fields: dict[str, str]) -> bytes:
    return json.dumps({"stream": stream, "fields": fields}, separators=(",", ":")).encode()


def spool_usage(spool_dir: Path) -> int:
    """Bytes used by every encounter spool under ``spool_dir``."""
    if not spool_dir.is_dir():
        return 0
    return sum(p.stat().st_size for p in spool_dir.glob("*/spool.bin") if p.is_file())


class EncounterSpool:
    """One encounter's spool directory: append, read back in order, record progress."""

    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self.path = directory / "spool.bin"
        self._progress_path = directory / "flushed"
        self._fh: Any = None
        self._lock_fh: Any = None
        self._unsynced = 0
        self.flushed = 0
        self.size = 0

    # -- lifecycle -------------------------------------------------------------------
    @classmethod
    def create(cls, spool_dir: Path, encounter_id: str, meta: dict[str, Any]) -> EncounterSpool:
        directory = spool_dir / encounter_id
        private_dir(spool_dir)  # raw audio of patients: owner-only (issue 20)
        directory.mkdir(mode=DIR_MODE, exist_ok=False)
        os.chmod(directory, DIR_MODE)  # mkdir's mode is filtered by the umask
        # Durable before any audio: without it a later run could not tell where to send it.
        with open_private(directory / "meta.json", "w") as fh:
            fh.write(json.dumps(meta))
            fh.flush()
            os.fsync(fh.fileno())
        spool = cls(directory)
        if not spool.try_lock():
            raise RuntimeError("fresh spool directory is locked")
        spool._open()
        return spool

    def try_lock(self) -> bool:
        """Take the directory's lock; False when another live agent owns it."""
        fh = open_private(self.dir / "lock", "a+b")  # held for the spool's lifetime
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            fh.close()
            return False
        self._lock_fh = fh
        return True

    def open_existing(self) -> None:
        self._open()

    def _open(self) -> None:
        self._fh = open_private(self.path, "ab", buffering=0)  # closed in close()
        self.size = self._fh.tell()
        self.flushed = self._read_progress()

    def meta(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads((self.dir / "meta.json").read_text())
        return data

    def close(self) -> None:
        if self._fh is not None:
            os.fsync(self._fh.fileno())
            self._fh.close()
            self._fh = None
        if self._lock_fh is not None:
            self._lock_fh.close()
            self._lock_fh = None

    def remove(self) -> None:
        """Delete the directory once everything in it is confirmed in Redis."""
        self.close()
        for name in ("spool.bin", "flushed", "flushed.tmp", "stopped", "meta.json", "lock"):
            (self.dir / name).unlink(missing_ok=True)
        self.dir.rmdir()

    # -- writing ---------------------------------------------------------------------
    def append(self, kind: bytes, seq: int, payload: bytes) -> int:
        """Append one record (not yet fsync'd); returns its size in bytes."""
        data = encode_record(kind, seq, payload)
        self._fh.write(data)
        self.size += len(data)
        self._unsynced += 1
        return len(data)

    @property
    def unsynced(self) -> int:
        return self._unsynced

    async def sync(self) -> None:
        """fsync what was appended (in a thread: a slow disk must not stall capture)."""
        if self._unsynced and self._fh is not None:
            self._unsynced = 0
            await asyncio.to_thread(os.fsync, self._fh.fileno())

    def mark_stopped(self, last_frame_seq: int) -> None:
        with open_private(self.dir / "stopped", "w") as fh:
            fh.write(str(last_frame_seq))

    def is_stopped(self) -> bool:
        return (self.dir / "stopped").exists()

    # -- reading back ----------------------------------------------------------------
    @property
    def pending(self) -> bool:
        return self.flushed < self.size

    def read(self, max_records: int) -> list[Record]:
        """Up to ``max_records`` unconfirmed records, in order, starting at ``flushed``."""
        out: list[Record] = []
        for rec in self._iter(self.flushed):
            out.append(rec)
            if len(out) >= max_records:
                break
        return out

    def _iter(self, offset: int) -> Iterator[Record]:
        with open(self.path, "rb") as fh:
            fh.seek(offset)
            while True:
                head = fh.read(_HEADER.size)
                if len(head) < _HEADER.size:
                    self._torn(offset, head)
                    return
                magic, kind, seq, length, crc = _HEADER.unpack(head)
                payload = fh.read(length) if magic == MAGIC else b""
                ok = (
                    magic == MAGIC
                    and len(payload) == length
                    and zlib.crc32(kind + struct.pack("<q", seq) + payload) == crc
                )
                if not ok:
                    self._torn(offset, head)
                    return
                offset += _HEADER.size + length
                yield Record(kind, seq, payload, offset)

    def _torn(self, offset: int, head: bytes) -> None:
        if head and offset < self.size:
            log.warning("spool_torn_tail", file=str(self.path), bytes=self.size - offset)
            self.size = offset  # ignore the damaged tail from now on

    def last_frame_seq(self) -> int:
        """Highest frame seq anywhere in the spool file (-1 if none)."""
        last = -1
        for rec in self._iter(0):
            if rec.is_frame:
                last = max(last, rec.seq)
        return last

    def confirm(self, offset: int, durable: bool = False) -> None:
        """Records up to ``offset`` are in Redis. ``durable`` fsyncs the progress file."""
        self.flushed = offset
        tmp = self._progress_path.with_suffix(".tmp")
        with open_private(tmp, "w") as fh:
            fh.write(str(offset))
            if durable:
                fh.flush()
                os.fsync(fh.fileno())
        os.replace(tmp, self._progress_path)

    def reset(self) -> None:
        """Everything is confirmed: empty the file (truncate first, then the progress)."""
        if self._fh is not None:
            self._fh.truncate(0)
            self._fh.seek(0)
        self.size = 0
        self.confirm(0, durable=True)

    def _read_progress(self) -> int:
        try:
            value = int(self._progress_path.read_text().strip() or 0)
        except (FileNotFoundError, ValueError):
            return 0
        # Larger than the file: the file was emptied after a full flush (see reset()).
        return value if value <= self.size else 0
