"""Running an evaluation: pick the LLM endpoint (or start the simulator), run every
dialogue, write the report."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from pydantic import SecretStr

from medscribe.evaluation import report
from medscribe.evaluation.config import EvalSettings
from medscribe.evaluation.direct import EncounterResult, run_dialogue
from medscribe.evaluation.options import Endpoint, EvalOptions
from shared.acibench import Dialogue
from shared.errors import MedscribeError
from shared.gateway import GatewayClient
from shared.logging import get_logger

log = get_logger(__name__)


class EvalError(MedscribeError):
    """A problem with the evaluation's inputs; the message is shown to the user (a path,
    an error class, a setting: never dialogue text)."""


@asynccontextmanager
async def endpoint(settings: EvalSettings, opts: EvalOptions) -> AsyncIterator[Endpoint]:
    """The configured LLM endpoint, or the built-in simulator when no key is set."""
    key = settings.llm_key()
    if key is not None:
        async with GatewayClient(settings.llm_gateway_url, key) as client:
            yield Endpoint(client, settings.llm_gateway_url, list, settings.llm_gateway_url, key)
        return
    from simulators.llm_server import LlmSimConfig, start_llm_simulator

    config = LlmSimConfig(
        soap_fabricate_share=opts.fabricate,
        seed=opts.seed,
        soap_ignore_schema=opts.ignore_schema,
        soap_paraphrase=opts.paraphrase,
    )
    sim = await start_llm_simulator(config)
    sim_key = SecretStr(config.api_keys[0])
    try:
        async with GatewayClient(sim.base_url, sim_key) as client:
            yield Endpoint(
                client,
                "built-in LLM simulator (offline baseline)",
                lambda: sim.stats.fabrications,
                sim.base_url,
                sim_key,
            )
    finally:
        await sim.close()


def load(opts: EvalOptions) -> list[Dialogue]:
    from shared.acibench import load_dialogues

    if not opts.data.is_file():
        raise EvalError(f"no such file: {opts.data}")
    try:
        dialogues = load_dialogues(opts.data)
    except (KeyError, ValueError, UnicodeDecodeError) as err:
        raise EvalError(
            f"{opts.data} is not an ACI-Bench CSV (encounter_id, dialogue, note): "
            f"{type(err).__name__}"
        ) from None
    dialogues = [d for d in dialogues if d.turns]
    if not dialogues:
        raise EvalError(f"{opts.data} holds no dialogue")
    return dialogues[: opts.limit] if opts.limit else dialogues


async def evaluate(settings: EvalSettings, opts: EvalOptions) -> tuple[dict[str, Any], str]:
    """The report and its file name stem."""
    try:
        import rouge_score  # noqa: F401 - the `eval` extra
    except ImportError:
        raise EvalError("ROUGE needs the eval extra: pip install 'medscribe[eval]'") from None
    if opts.fabricate > 0 and settings.llm_key() is not None:
        raise EvalError(
            "--fabricate needs the built-in LLM simulator: unset ASSEMBLYAI_API_KEY and "
            "MEDSCRIBE_LLM_API_KEY for this run"
        )
    dialogues = load(opts)
    started = time.monotonic()
    mode = "through-pipeline" if opts.through_pipeline else "direct"
    async with endpoint(settings, opts) as ep:
        results: list[EncounterResult] = []
        if opts.through_pipeline:
            from medscribe.evaluation.pipeline import run_pipeline

            results = await run_pipeline(dialogues, ep, opts)
        else:
            for d in dialogues:
                results.append(await run_dialogue(d, ep.client, opts.models, ep.fabrications))
                log.info("eval_encounter_done", encounter_id=d.encounter_id)
        label = ep.label
    meta = report.Meta(
        mode=mode,
        data=opts.data.name,
        llm=label,
        models={"edit": opts.models.edit, "note": opts.models.note},
        fabricate=opts.fabricate,
        seed=opts.seed,
        seconds=round(time.monotonic() - started, 1),
    )
    mode += "-text-replies" if opts.ignore_schema else ""
    mode += "-paraphrased" if opts.paraphrase else ""
    name = f"aci-bench-{mode}" + (
        f"-fabricate{round(opts.fabricate * 100)}" if opts.fabricate else ""
    )
    return report.build(results, meta), name
