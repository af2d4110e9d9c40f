"""The staff API of the notes service (FastAPI)."""
