"""redis release: when an encounter's audio and keys left Redis

Nullable timestamp; existing encounters start as "not released", so the release job
also clears the Redis keys of visits finished before this revision.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('encounters') as batch:
        batch.add_column(sa.Column('redis_released_at', sa.DateTime(timezone=True), nullable=True))
        batch.create_index('ix_encounters_redis_released_at', ['redis_released_at'])


def downgrade() -> None:
    with op.batch_alter_table('encounters') as batch:
        batch.drop_index('ix_encounters_redis_released_at')
        batch.drop_column('redis_released_at')
