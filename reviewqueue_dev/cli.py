"""`reviewqueue run`, registered through the `reviewqueue.commands` entry point (see reviewqueue.cli.main)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer


def run(
    api_port: Annotated[int, typer.Option(envvar="REVIEWQUEUE_API_PORT")] = 8000,
    ui_port: Annotated[int, typer.Option(envvar="REVIEWQUEUE_UI_PORT")] = 8501,
    data_dir: Annotated[Path, typer.Option(help="Where the embedded demo keeps its files")] = Path("var"),
    models: Annotated[list[str] | None, typer.Option(
        "--models", help="Extra model modules for the demo, beside models.fraud and models.self_harm "
                         "(repeat, or comma-separated; also REVIEWQUEUE_MODEL_MODULES)")] = None,
) -> None:
    """Run everything on embedded SQLite with demo data and local sandboxes for Stripe, Slack and webhooks."""
    from reviewqueue.cli import _setup_logging
    from reviewqueue_dev.demo import demo_modules, run_demo

    # the demo's own reading of the setting (a JSON list or comma-separated); its children get the full list
    extra = [os.environ.pop("REVIEWQUEUE_MODEL_MODULES", ""), *(models or [])]
    _setup_logging()
    raise typer.Exit(run_demo(api_port=api_port, ui_port=ui_port, data_dir=data_dir,
                              model_modules=demo_modules([e for e in extra if e.strip()])))
