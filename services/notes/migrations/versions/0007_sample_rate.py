"""sample rate: the visit's audio sample rate, for the optional FLAC archive

Nullable integer from EncounterStarted; encounters started before this revision have
none, and the archive assumes 16 kHz (the capture agent's default) for them.

Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa

from services.notes.migrations.columns import add_columns, drop_columns

revision = '0007'
down_revision = '0006'


def upgrade() -> None:
    add_columns('encounters', sa.Column('sample_rate', sa.Integer(), nullable=True))


def downgrade() -> None:
    drop_columns('encounters', 'sample_rate')
