"""signing lifecycle: addenda, drafts, per-turn roles

A signed note keeps its text; each addendum is a new version that lists every addendum so
far (``notes.addenda``) and marks the encounter amended (``encounters.amended_at``).
``note_drafts`` holds a clinician's unsaved edit as they type (PHI: database only).
``turns.role`` is the clinician's correction of one turn's speaker role.

Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

from services.notes.migrations.columns import add_columns, drop_columns

revision = '0006'
down_revision = '0005'

JSON = sa.JSON().with_variant(JSONB(), 'postgresql')


def upgrade() -> None:
    add_columns('encounters', sa.Column('amended_at', sa.DateTime(timezone=True), nullable=True))
    add_columns('notes', sa.Column('addenda', JSON, nullable=True))
    add_columns('turns', sa.Column('role', sa.String(20), nullable=True))
    op.create_table(
        'note_drafts',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column(
            'encounter_id',
            sa.String(64),
            sa.ForeignKey(
                'encounters.id',
                ondelete='CASCADE',
                name='fk_note_drafts_encounter_id_encounters',
            ),
            nullable=False,
        ),
        sa.Column('author', sa.String(100), nullable=False),
        sa.Column('base_version', sa.Integer(), nullable=False),
        sa.Column('sections', JSON, nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint('encounter_id', 'author', name='uq_note_drafts_encounter_author'),
        sa.PrimaryKeyConstraint('id', name='pk_note_drafts'),
    )


def downgrade() -> None:
    op.drop_table('note_drafts')
    drop_columns('turns', 'role')
    drop_columns('notes', 'addenda')
    drop_columns('encounters', 'amended_at')
