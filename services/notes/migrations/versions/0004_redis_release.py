"""redis release: when an encounter's audio and keys left Redis

Nullable timestamp; existing encounters start as "not released", so the release job
also clears the Redis keys of visits finished before this revision.

Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa

from services.notes.migrations.columns import add_columns, drop_columns

revision = '0004'
down_revision = '0003'


def upgrade() -> None:
    column = sa.Column('redis_released_at', sa.DateTime(timezone=True), nullable=True)
    add_columns('encounters', column, indexes={'ix_encounters_redis_released_at': [column.name]})


def downgrade() -> None:
    drop_columns('encounters', 'redis_released_at', indexes=['ix_encounters_redis_released_at'])
