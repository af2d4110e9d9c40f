"""sample rate: the visit's audio sample rate, for the optional FLAC archive

Nullable integer from EncounterStarted; encounters started before this revision have
none, and the archive assumes 16 kHz (the capture agent's default) for them.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('encounters') as batch:
        batch.add_column(sa.Column('sample_rate', sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('encounters') as batch:
        batch.drop_column('sample_rate')
