"""`medscribe eval aci-bench`."""

from __future__ import annotations

import asyncio
from pathlib import Path

import typer

from medscribe.evaluation.direct import Models
from shared.cli_util import fail, settings_from

app = typer.Typer(help="Measure note quality and the claim checker.", no_args_is_help=True)


@app.command("aci-bench")
def aci_bench(
    data: Path | None = typer.Option(
        None,
        help="ACI-Bench CSV (encounter_id, dialogue, note); default $MEDSCRIBE_ACI_BENCH or "
        "../shared/aci-bench/valid.csv.",
    ),
    limit: int | None = typer.Option(None, min=1, help="Only the first N dialogues."),
    through_pipeline: bool = typer.Option(
        False, help="Through the whole stack with tone-coded audio (simulators)."
    ),
    fabricate: float = typer.Option(
        0.0, min=0.0, max=1.0, help="Share of note statements the LLM simulator fabricates."
    ),
    out: Path = typer.Option(Path("eval/results"), help="Directory of the JSON and Markdown."),
    seed: int = typer.Option(14, help="Seed of the simulator's fabrications."),
    paraphrase: bool = typer.Option(
        False, help="The simulator restates statements as clinicians abbreviate them."
    ),
    text_replies: bool = typer.Option(
        False, help="The simulator ignores the JSON schema: measures computed links."
    ),
    edit_model: str = typer.Option(Models.edit, help="Model of the turn edits."),
    note_model: str = typer.Option(Models.note, help="Model of the SOAP note."),
) -> None:
    """Run each dialogue through the turn editor and the note writer; report ROUGE, section
    completeness, evidence and unsupported claims (with --fabricate: detection and
    false-alarm rates of the check). Without an LLM key the simulator is the LLM."""
    from medscribe.evaluation import report
    from medscribe.evaluation.config import EvalSettings
    from medscribe.evaluation.options import EvalOptions
    from medscribe.evaluation.run import EvalError, evaluate
    from shared.logging import configure_logging

    configure_logging("WARNING", "auto", "eval")  # a line per gateway call is noise here
    settings = settings_from(EvalSettings)
    opts = EvalOptions(
        data=data or settings.aci_bench,
        limit=limit,
        through_pipeline=through_pipeline,
        fabricate=fabricate,
        out=out,
        seed=seed,
        ignore_schema=text_replies,
        paraphrase=paraphrase,
        models=Models(edit=edit_model, note=note_model),
    )
    try:
        result, name = asyncio.run(evaluate(settings, opts))
    except EvalError as err:
        fail(str(err))
    json_path, md_path = report.write(result, out, name)
    o = result["overall"]
    typer.echo(
        f"{o['encounters']} encounters: ROUGE-1 {o['rouge1']:.3f}, ROUGE-2 {o['rouge2']:.3f}, "
        f"ROUGE-L {o['rougeL']:.3f}, sections {o['section_completeness']:.2f}, evidence "
        f"{o['evidence_share'] or 0:.3f}, unsupported statements {o['unsupported_statements']}"
    )
    if fabricate:
        typer.echo(
            f"fabricated {o['fabricated']}, caught {o['caught']} "
            f"(detection {o['detection_rate'] or 0:.3f}), false alarms {o['false_alarms']}/"
            f"{o['true_statements']} ({o['false_alarm_rate'] or 0:.3f})"
        )
    typer.echo(f"report: {md_path} and {json_path}")
