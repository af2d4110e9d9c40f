"""note evidence: statements, their turns and flags, per note version

Nullable JSON (JSONB on PostgreSQL): versions written before this revision have none and
are served with an empty statement list.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    evidence = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')
    with op.batch_alter_table('notes') as batch:
        batch.add_column(sa.Column('evidence', evidence, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('notes') as batch:
        batch.drop_column('evidence')
