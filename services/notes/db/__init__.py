"""Storage of the clinical record: models, engine, migrations and the repository."""
