"""`GET /v1/models` entries of the LLM Gateway simulator (shape of assemblyai-protocol §6.1)."""

from __future__ import annotations

from typing import Any

_CREATORS = {"claude": "anthropic", "gemini": "google", "gpt": "openai"}


def model_entry(model_id: str) -> dict[str, Any]:
    """One model as the gateway lists it; prices and limits are plausible placeholders."""
    creator = next((c for p, c in _CREATORS.items() if model_id.startswith(p)), "other")
    eu = creator in ("anthropic", "google")  # OpenAI models are US-only on the gateway
    return {
        "id": model_id,
        "name": model_id,
        "description": f"Simulated {creator} model",
        "default_parameters": {"temperature": 1.0, "top_p": 1.0, "frequency_penalty": 0.0},
        "supported_parameters": ["max_tokens", "temperature", "response_format", "fallbacks"],
        "top_provider": {
            "is_moderated": False,
            "context_length": 200_000,
            "max_completion_tokens": 64_000,
        },
        "context_length": 200_000,
        "pricing": {
            "us": {"prompt": "0.000003", "completions": "0.000015"},
            "eu": {"prompt": "0.0000033", "completions": "0.0000165"} if eu else None,
            "global": {"prompt": "0.000003", "completions": "0.000015"},
            "regional_increase_percent": 10,
        },
        "creator": creator,
        "retirement_date": 0,
        "available_regions": ["us", "eu"] if eu else ["us"],
        "providers": [{"id": creator, "name": creator.capitalize()}],
        "default_provider": creator,
    }
