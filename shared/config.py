"""Settings of the cross-cutting commands (`medscribe check`, `medscribe dlq`)."""

from __future__ import annotations

from shared.settings import AssemblyAISettings, CommonSettings, DatabaseSettings


class ToolSettings(CommonSettings, AssemblyAISettings, DatabaseSettings):
    """Redis, AssemblyAI and the notes database, as the checks and the dead-letter tool see them."""
