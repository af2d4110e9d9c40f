"""after-visit summary: the patient's plain-language summary of a signed note

One row per request (the newest is shown), with the statements' evidence against the
signed note and the count of open high flags. Removed with the encounter (cascade) and by
a purge.

Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '0008'
down_revision = '0007'

JSON = sa.JSON().with_variant(postgresql.JSONB(), 'postgresql')


def upgrade() -> None:
    op.create_table(
        'after_visit_summaries',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('encounter_id', sa.String(length=64), nullable=False),
        sa.Column('note_version', sa.Integer(), nullable=False),
        sa.Column('sections', JSON, nullable=False),
        sa.Column('text', sa.Text(), nullable=False),
        sa.Column('evidence', JSON, nullable=False),
        sa.Column('open_high_flags', sa.Integer(), nullable=False),
        sa.Column('model', sa.String(length=100), nullable=False),
        sa.Column('created_by', sa.String(length=100), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ['encounter_id'], ['encounters.id'],
            name='fk_after_visit_summaries_encounter_id_encounters', ondelete='CASCADE',
        ),
        sa.PrimaryKeyConstraint('id', name='pk_after_visit_summaries'),
    )
    op.create_index(
        'ix_after_visit_summaries_encounter_id', 'after_visit_summaries', ['encounter_id']
    )


def downgrade() -> None:
    op.drop_index('ix_after_visit_summaries_encounter_id', 'after_visit_summaries')
    op.drop_table('after_visit_summaries')
