"""The optional audio archive: a visit's audio written once to its export folder as FLAC
before it leaves Redis (``MEDSCRIBE_AUDIO_ARCHIVE=flac``; off by default, as the original
guide kept no audio).

``{export_dir}/{encounter}/encounter_audio.flac``: 16-bit mono at the visit's sample rate,
the frames in stream order (a frame number seen twice is written once; a malformed frame
is skipped, as the bridge skips it). The file is encoded by libsndfile (soundfile) under a
temporary name in the same folder, flushed and renamed, mode 0640: a file with the final
name is complete. A crash before the rename leaves a temporary file the next attempt
removes; a crash after it leaves a complete file the next attempt keeps (written once).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from pathlib import Path
from typing import Any

import numpy as np
import redis.asyncio as aioredis
import soundfile

from services.notes.exporter import safe_dirname
from shared.contracts import MalformedEntry, StreamNames, decode_audio
from shared.errors import MedscribeError

ARCHIVE_NAME = "encounter_audio.flac"
_TMP_PREFIX = f".{ARCHIVE_NAME}."
FILE_MODE = 0o640  # like the other export files: PHI, not world-readable
BATCH = 2000  # frames per XRANGE (~100 s of audio at 50 ms frames)


class ArchiveError(MedscribeError):
    """The archive could not be written; the text names the cause, never content."""


def archive_path(export_dir: Path, encounter_id: str) -> Path:
    return export_dir / safe_dirname(encounter_id) / ARCHIVE_NAME


def remove_archive(export_dir: Path, encounter_id: str) -> int:
    """Delete the visit's archived audio (retention); 1 if there was one."""
    path = archive_path(export_dir, encounter_id)
    if not path.exists():
        return 0
    path.unlink(missing_ok=True)
    return 1


def _remove_leftovers(folder: Path) -> None:
    """Temporary files of an attempt that died before its rename."""
    for stale in folder.glob(f"{_TMP_PREFIX}*"):
        stale.unlink(missing_ok=True)


async def archive_audio(
    redis: aioredis.Redis,
    names: StreamNames,
    export_dir: Path,
    encounter_id: str,
    sample_rate: int,
    *,
    batch: int = BATCH,
) -> Path | None:
    """Write the visit's audio stream to its FLAC file, unless that file exists already.

    Returns the file, or None when Redis holds no audio for the visit (nothing written).
    """
    target = archive_path(export_dir, encounter_id)
    if target.exists():
        return target
    key = names.audio(encounter_id)
    first: list[Any] = list(await redis.xrange(key, "-", "+", count=batch) or [])
    if not first:
        return None
    folder = target.parent
    tmp = folder / f"{_TMP_PREFIX}{os.getpid()}.tmp"
    try:
        folder.mkdir(mode=0o750, parents=True, exist_ok=True)  # PHI: no world access
        await asyncio.to_thread(_remove_leftovers, folder)
        sf = await asyncio.to_thread(
            soundfile.SoundFile,
            str(tmp),
            mode="w",
            samplerate=sample_rate,
            channels=1,
            subtype="PCM_16",
            format="FLAC",
        )
        try:
            await _copy_frames(redis, key, first, sf, batch)
        finally:
            await asyncio.to_thread(sf.close)
        await asyncio.to_thread(_publish, tmp, target)
    except (OSError, RuntimeError, soundfile.LibsndfileError) as err:
        _discard(tmp)
        raise ArchiveError(f"audio archive not written: {type(err).__name__}") from None
    except BaseException:
        _discard(tmp)
        raise
    return target


async def _copy_frames(
    redis: aioredis.Redis, key: str, entries: list[Any], sf: soundfile.SoundFile, batch: int
) -> None:
    last_seq = -1
    while entries:
        chunks: list[bytes] = []
        for _entry_id, fields in entries:
            try:
                frame = decode_audio(fields)
            except MalformedEntry:
                continue
            if frame.seq <= last_seq:
                continue  # resent after a capture restart: already written
            last_seq = frame.seq
            chunks.append(frame.pcm)
        if chunks:
            samples = np.frombuffer(b"".join(chunks), dtype="<i2")
            await asyncio.to_thread(sf.write, samples)
        if len(entries) < batch:
            return
        last_id = entries[-1][0]
        last = last_id.decode() if isinstance(last_id, bytes) else str(last_id)
        entries = list(await redis.xrange(key, f"({last}", "+", count=batch) or [])


def _discard(tmp: Path) -> None:
    with contextlib.suppress(OSError):  # e.g. the folder is not one: nothing was written
        tmp.unlink(missing_ok=True)


def _publish(tmp: Path, target: Path) -> None:
    """Flush the finished file to disk and give it its final name."""
    fd = os.open(tmp, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    os.chmod(tmp, FILE_MODE)
    os.replace(tmp, target)
