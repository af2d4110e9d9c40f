"""Edited turns and whole visits as the editor and the capture agent would publish them."""

from __future__ import annotations

from datetime import UTC, datetime

from shared.contracts import (
    EditedTurn,
    EncounterStarted,
    EncounterStopped,
    EncounterTranscribed,
    Message,
)


def make_turn(encounter_id: str, seq: int, text: str, speaker: str | None = None) -> EditedTurn:
    return EditedTurn(
        encounter_id=encounter_id,
        seq=seq,
        stt_session_id="sess-1",
        turn_order=seq,
        text=text.lower(),
        start_ms=seq * 4000,
        end_ms=seq * 4000 + 3500,
        speaker=speaker,
        edited_text=text,
        edit_status="edited",
        llm_model="claude-haiku-4-5-20251001",
    )


def visit_messages(
    encounter_id: str,
    texts: list[str],
    *,
    speakers: list[str | None] | None = None,
    llm_model: str = "claude-haiku-4-5-20251001",
    turn_count: int | None = None,
    skip: tuple[int, ...] = (),
) -> tuple[list[Message], list[EditedTurn]]:
    """Control messages and turns of one visit (turn ``skip`` seqs are never sent)."""
    spk = speakers or [None] * len(texts)
    control: list[Message] = [
        EncounterStarted(
            encounter_id=encounter_id,
            room="exam-1",
            llm_model=llm_model,
            clinician="dr-test",
            started_at=datetime(2026, 11, 29, 9, 0, tzinfo=UTC),
        ),
        EncounterStopped(encounter_id=encounter_id, last_frame_seq=100),
        EncounterTranscribed(
            encounter_id=encounter_id,
            turn_count=len(texts) if turn_count is None else turn_count,
            audio_ms=len(texts) * 4000,
        ),
    ]
    turns = [make_turn(encounter_id, i, t, spk[i]) for i, t in enumerate(texts) if i not in skip]
    return control, turns
