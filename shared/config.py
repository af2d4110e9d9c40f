"""Settings of the cross-cutting commands (`medscribe check`, `medscribe dlq`)."""

from __future__ import annotations

from pydantic import AliasChoices, Field

from shared.settings import DEFAULT_DATABASE_URL, AssemblyAISettings, CommonSettings


class ToolSettings(CommonSettings, AssemblyAISettings):
    database_url: str = Field(
        DEFAULT_DATABASE_URL,
        validation_alias=AliasChoices("MEDSCRIBE_DATABASE_URL", "DATABASE_URL"),
        description="Notes database (SQLAlchemy async URL).",
    )
