"""Alembic migrations of the notes database (run by `medscribe notes migrate`)."""
