"""console passwords: a token's owner may set a password to sign in to the console

``api_tokens.password_hash``: scrypt (services/notes/passwords.py); null = sign in with
the key or a personal link only.

Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa

from services.notes.migrations.columns import add_columns, drop_columns

revision = '0010'
down_revision = '0009'


def upgrade() -> None:
    add_columns('api_tokens', sa.Column('password_hash', sa.String(length=200), nullable=True))


def downgrade() -> None:
    drop_columns('api_tokens', 'password_hash')
