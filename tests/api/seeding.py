"""Test data for the staff API: encounters with turns and notes, and API tokens.

Rows are written through the ORM models (what the notes consumer would have stored);
the texts are synthetic, never ACI-Bench content.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from services.notes.auth import hash_token, new_token
from services.notes.db.engine import Database
from services.notes.db.models import ApiToken, Encounter, Note, Turn
from services.notes.soap_format import render

BASE_TIME = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)

TURNS = (
    ("A", "What brings you in today?"),
    ("B", "I have had a dry cough for two weeks."),
    ("A", "Any fever or shortness of breath?"),
    ("B", "No fever, a little wheezing at night."),
)
SECTIONS = {
    "subjective": ["Dry cough for two weeks.", "Wheezing at night, no fever."],
    "objective": ["Lungs with scattered wheezes."],
    "assessment": ["Probable reactive airway disease."],
    "plan": ["Trial of albuterol inhaler.", "Follow up in two weeks."],
}


def new_id(prefix: str = "enc") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@dataclass(frozen=True)
class Seeded:
    encounter_id: str
    clinician: str | None
    status: str


async def add_encounter(
    db: Database,
    encounter_id: str | None = None,
    *,
    clinician: str | None = "dr-a",
    status: str = "ready",
    note: str | None = "draft",
    turns: int = len(TURNS),
    room: str = "room-1",
    started_at: datetime = BASE_TIME,
    note_text_extra: str = "",
) -> Seeded:
    """An encounter as the notes service leaves it; ``note`` is None, "draft" or "signed"."""
    eid = encounter_id or new_id()
    done = status not in ("recording", "transcribing")
    async with db.session() as s:
        s.add(
            Encounter(
                id=eid,
                room=room,
                clinician=clinician,
                llm_model="claude-sonnet-4-6",
                speech_model="u3-rt-pro",
                status=status,
                started=True,
                started_at=started_at,
                stopped_at=started_at + timedelta(minutes=12) if done else None,
                transcribed_at=started_at + timedelta(minutes=12, seconds=3) if done else None,
                note_at=started_at + timedelta(minutes=12, seconds=9) if note else None,
                updated_at=started_at,
                expected_turns=turns if done else None,
                audio_ms=720_000 if done else None,
                speaker_roles={"A": "clinician", "B": "patient"},
            )
        )
        await s.flush()
        for seq in range(turns):
            speaker, text = TURNS[seq % len(TURNS)]
            s.add(
                Turn(
                    encounter_id=eid,
                    seq=seq,
                    stt_session_id="sess-1",
                    turn_order=seq,
                    original_text=text.lower().rstrip("?."),
                    edited_text=text,
                    edit_status="edited",
                    llm_model="claude-haiku-4-5-20251001",
                    flags=[{"kind": "symptom", "term": "cough"}] if "cough" in text else [],
                    speaker=speaker,
                    start_ms=seq * 4000,
                    end_ms=seq * 4000 + 3000,
                    formatted=True,
                )
            )
        if note:
            sections = {k: list(v) for k, v in SECTIONS.items()}
            if note_text_extra:
                sections["plan"].append(note_text_extra)
            signed = note == "signed"
            s.add(
                Note(
                    encounter_id=eid,
                    version=1,
                    kind="generated",
                    status="signed" if signed else "draft",
                    text=render(sections),
                    sections=sections,
                    model="claude-sonnet-4-6",
                    author="system",
                    created_at=started_at + timedelta(minutes=13),
                    signed_by="clin-a" if signed else None,
                    signed_at=started_at + timedelta(minutes=20) if signed else None,
                )
            )
    return Seeded(eid, clinician, status)


async def add_token(
    db: Database, name: str, role: str, clinician_id: str | None = None, revoked: bool = False
) -> str:
    """Store a token the way the CLI does; return its secret."""
    secret = new_token()
    async with db.session() as s:
        s.add(
            ApiToken(
                name=name,
                role=role,
                clinician_id=clinician_id,
                token_hash=hash_token(secret),
                revoked_at=datetime.now(UTC) if revoked else None,
            )
        )
    return secret


async def token_id(db: Database, name: str) -> int:
    async with db.session() as s:
        found = await s.scalar(select(ApiToken.id).where(ApiToken.name == name))
    assert found is not None
    return int(found)


ROLE_TOKENS = {
    "admin": ("admin", None),
    "staff": ("staff", None),
    "auditor": ("auditor", None),
    "clin-a": ("clinician", "dr-a"),
    "clin-b": ("clinician", "dr-b"),
}


async def add_role_tokens(db: Database) -> dict[str, str]:
    return {
        name: await add_token(db, name, role, clinician)
        for name, (role, clinician) in ROLE_TOKENS.items()
    }


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}
