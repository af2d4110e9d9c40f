"""The demo's visit: its audio (the built-in sample, tone-coded, or the user's WAV), the
encounter it became, and the wait for its transcript and SOAP note."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from medscribe.supervisor.stack import StackError
from shared.contracts import EncounterStarted, StreamNames, decode_control
from shared.streams import make_redis
from simulators.samples import SAMPLE_VISIT


class VisitError(StackError):
    """The demo visit went wrong (the message: a file path, an exit or failure code)."""


@dataclass(frozen=True)
class DemoResult:
    encounter_id: str
    transcript: Path | None
    note: Path | None


def prepare_audio(file: Path | None, demo_dir: Path) -> tuple[Path, str]:
    """The WAV to play and a label for it; the sample is encoded on the fly."""
    from simulators.codec import encode, load_script, write_wav

    if file is not None:
        if not file.is_file():
            raise VisitError(f"{file} does not exist")
        return file, str(file)
    turns = load_script(SAMPLE_VISIT)
    wav = demo_dir / "sample_visit.wav"
    write_wav(wav, encode(turns))
    return wav, f"built-in sample visit ({len(turns)} turns, tone-coded)"


async def encounter_of_run(redis_url: str, prefix: str, timeout: float = 10.0) -> str:
    """The encounter the demo's capture agent started (the run's prefix holds only it)."""
    names = StreamNames(prefix)
    client = make_redis(redis_url)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            for _id, fields in await client.xrange(names.control) or []:
                if not fields:
                    continue
                msg = decode_control(fields)
                if isinstance(msg, EncounterStarted):
                    return msg.encounter_id
            await asyncio.sleep(0.2)
    finally:
        await client.aclose()
    raise VisitError("the capture agent started no encounter")


async def wait_note(
    api: str, token: str, encounter_id: str, exports: Path, timeout: float
) -> DemoResult:
    """Poll the staff API until the encounter has a note and its files are exported."""
    headers = {"Authorization": f"Bearer {token}"}
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(base_url=api, headers=headers, timeout=5.0) as client:
        while time.monotonic() < deadline:
            try:
                resp = await client.get(f"/v1/encounters/{encounter_id}")
            except httpx.HTTPError:
                resp = None
            if resp is not None and resp.status_code == 200:
                body = resp.json()
                if body.get("failure_stage"):
                    raise VisitError(
                        f"the encounter failed at {body['failure_stage']} "
                        f"({body.get('failure_reason')})"
                    )
                if body.get("note"):
                    files = _exported(exports, encounter_id)
                    if files.note is not None:
                        return files
            await asyncio.sleep(0.3)
    raise VisitError(f"no SOAP note after {timeout:.0f} s (see the notes and editor logs)")


def _exported(exports: Path, encounter_id: str) -> DemoResult:
    from services.notes.exporter import safe_dirname

    folder = exports / safe_dirname(encounter_id)
    transcripts = sorted(folder.glob("encounter_transcript_*.txt"))
    notes = sorted(folder.glob("clinical_note_soap_*.txt"))
    return DemoResult(
        encounter_id,
        transcripts[-1] if transcripts else None,
        notes[-1] if notes else None,
    )
