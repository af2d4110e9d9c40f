"""speaker revisions: labels the STT service re-decided after the turns were published

``encounters.speaker_revisions`` maps a turn's seq (as text) to its revised speaker label
(null: unassigned), from EncounterTranscribed. Applied to the stored turns when it arrives
and to any turn stored later; null for encounters without revisions.

Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from services.notes.migrations.columns import add_columns, drop_columns

revision = '0009'
down_revision = '0008'


def upgrade() -> None:
    add_columns('encounters', sa.Column(
        'speaker_revisions',
        sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'),
        nullable=True,
    ))  # fmt: skip


def downgrade() -> None:
    drop_columns('encounters', 'speaker_revisions')
