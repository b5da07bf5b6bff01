"""`reviewqueue monitor drift [MODEL] [--days N] [--alert] [--day YYYY-MM-DD]`: the drift table in the terminal,
or the daily alert check (what the worker's scheduled job runs) by hand; the figures are services.drift's."""

from __future__ import annotations

from datetime import date
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from reviewqueue.settings import Settings

__all__ = ["monitor_app"]

monitor_app = typer.Typer(help="Model monitoring: drift against the training data.", no_args_is_help=True)
console = Console()
COLOURS = {"alert": "red", "watch": "yellow", "stable": "green"}


def _day(text: str | None) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(f"a date as YYYY-MM-DD, got {text!r}") from None


@monitor_app.command("drift")
def drift_command(
    model: Annotated[str | None, typer.Argument(help="One model (default: every registered model)")] = None,
    days: Annotated[int, typer.Option(min=1, max=90, help="Days to show, today included")] = 7,
    alert: Annotated[bool, typer.Option("--alert", help="Queue the Slack alerts past the alert threshold "
                                        "(once per model, input and day), as the worker's daily job does")] = False,
    day: Annotated[str | None, typer.Option(help="With --alert: check this UTC day (default: yesterday "
                                            "and today)")] = None,
) -> None:
    """PSI per input and for the score of each model's champion against its training data; --alert pages."""
    from reviewqueue.errors import ReviewQueueError
    from reviewqueue.services import drift
    from reviewqueue.services.context import bootstrap

    ctx = bootstrap(Settings())
    try:
        if alert:
            sent = drift.alert_drift(ctx, _day(day))
            for a in sent:
                console.print(f"[red]alert[/red] {a.model_name} v{a.version} {a.feature}: PSI {a.psi:.3f} "
                              f"[{a.psi_low:.3f}, {a.psi_high:.3f}] on {a.day}, n={a.n}")
            console.print(f"{len(sent)} drift alert(s) queued to {ctx.settings.drift_alert_channel}")
            return
        names = [model] if model else [spec.name for spec in ctx.registry.models()]
        for name in names:
            _print_report(drift.drift_report(ctx, name, days))
    except ReviewQueueError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(2) from None
    finally:
        ctx.engine.dispose()


def _print_report(report: object) -> None:
    from reviewqueue.schemas import DriftReport

    assert isinstance(report, DriftReport)
    console.print(f"[bold]{report.model}[/bold]: {report.note}")
    if not report.has_reference:
        return
    table = Table("input", *(d.day.isoformat() for d in report.features[0].days))
    for feature in report.features:
        cells = [f"[{COLOURS.get(d.level, 'dim')}]{d.psi:.3f}[/] n={d.n}" if d.psi is not None else "-"
                 for d in feature.days]
        table.add_row(feature.feature, *cells)
    console.print(table)
    console.print(f"PSI ≥ {report.watch:g} watch, ≥ {report.alert:g} alert (with at least {report.min_sample} "
                  "predictions that day)")
