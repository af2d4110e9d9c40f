"""note evidence: statements, their turns and flags, per note version

Nullable JSON (JSONB on PostgreSQL): versions written before this revision have none and
are served with an empty statement list.

Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from services.notes.migrations.columns import add_columns, drop_columns

revision = '0003'
down_revision = '0002'


def upgrade() -> None:
    evidence = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')
    add_columns('notes', sa.Column('evidence', evidence, nullable=True))


def downgrade() -> None:
    drop_columns('notes', 'evidence')
