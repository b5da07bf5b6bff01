"""`reviewqueue run`, registered through the `reviewqueue.commands` entry point (see reviewqueue.cli.main)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def run(
    api_port: int = 8000, ui_port: int = 8501,
    data_dir: Annotated[Path, typer.Option(help="Where the embedded demo keeps its files")] = Path("var"),
) -> None:
    """Run everything on embedded SQLite with demo data and local sandboxes for Stripe, Slack and webhooks."""
    from reviewqueue.cli import _setup_logging
    from reviewqueue_dev.demo import run_demo

    _setup_logging()
    raise typer.Exit(run_demo(api_port=api_port, ui_port=ui_port, data_dir=data_dir))
