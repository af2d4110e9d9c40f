"""Settings of `medscribe eval`: the LLM endpoint, when one is configured."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr

from shared.acibench import default_path
from shared.settings import AssemblyAISettings


class EvalSettings(AssemblyAISettings):
    aci_bench: Path = Field(
        default_factory=default_path,
        description="ACI-Bench CSV used when --data is not given (MEDSCRIBE_ACI_BENCH).",
    )

    def llm_key(self) -> SecretStr | None:
        """The LLM key if one is set; None means: use the built-in simulator."""
        for key in (self.llm_api_key, self.assemblyai_api_key):
            if key is not None and key.get_secret_value():
                return key
        return None
