"""What one evaluation run was asked for, and the LLM endpoint it talks to."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from medscribe.evaluation.direct import Models
from shared.gateway import GatewayClient


@dataclass
class EvalOptions:
    data: Path
    limit: int | None = None
    through_pipeline: bool = False
    fabricate: float = 0.0
    out: Path = Path("eval/results")
    seed: int | None = 14
    paraphrase: bool = False  # the simulator restates statements (abbreviations, digits)
    ignore_schema: bool = False  # the simulator answers in text: every link is computed
    models: Models = field(default_factory=Models)


@dataclass
class Endpoint:
    client: GatewayClient
    label: str
    fabrications: Callable[[], list[dict[str, Any]]]
    url: str
    key: SecretStr
