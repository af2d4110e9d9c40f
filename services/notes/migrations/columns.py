"""Adding and dropping columns in revisions, batched so SQLite can take the change.

For the revisions under ``versions/``; it sits outside that folder because Alembic loads
every script there as a revision.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op


def add_columns(
    table: str, *columns: sa.Column[Any], indexes: Mapping[str, list[str]] | None = None
) -> None:
    """Add ``columns`` to ``table``, then create ``indexes`` (name: its columns)."""
    with op.batch_alter_table(table) as batch:
        for column in columns:
            batch.add_column(column)
        for name, indexed in (indexes or {}).items():
            batch.create_index(name, indexed)


def drop_columns(table: str, *columns: str, indexes: Sequence[str] = ()) -> None:
    """Drop ``indexes`` from ``table``, then ``columns``, in the order given."""
    with op.batch_alter_table(table) as batch:
        for name in indexes:
            batch.drop_index(name)
        for column in columns:
            batch.drop_column(column)
