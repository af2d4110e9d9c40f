"""speaker revisions: labels the STT service re-decided after the turns were published

``encounters.speaker_revisions`` maps a turn's seq (as text) to its revised speaker label
(null: unassigned), from EncounterTranscribed. Applied to the stored turns when it arrives
and to any turn stored later; null for encounters without revisions.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('encounters') as batch:
        batch.add_column(sa.Column(
            'speaker_revisions',
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'),
            nullable=True,
        ))  # fmt: skip


def downgrade() -> None:
    with op.batch_alter_table('encounters') as batch:
        batch.drop_column('speaker_revisions')
