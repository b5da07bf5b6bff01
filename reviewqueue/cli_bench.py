"""`reviewqueue bench-model NAME`: the command's options and its table; the measuring is services.model_bench."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

__all__ = ["bench_model_command", "profile_table"]

console = Console()


def _batch_sizes(text: str) -> list[int]:
    try:
        sizes = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise typer.BadParameter(f"comma-separated positive integers, got {text!r}") from None
    if not sizes or min(sizes) < 1:
        raise typer.BadParameter(f"comma-separated positive integers, got {text!r}")
    return sizes


def _rate(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}"


def profile_table(model: str, profile: dict[str, Any]) -> Table:
    """One row per measured configuration: latency, throughput per batch size, parity against the reference."""
    sizes = [str(b) for b in profile["batch_sizes"]]
    sample = profile["sample"]
    table = Table("config", "threads", "p50 ms", "p99 ms", *[f"rows/s @{b}" for b in sizes], "max |Δp|", "Spearman",
                  "routes changed", "parity",
                  title=f"{model} v{profile['version']}: {sample['n']} inputs ({sample['source']}); parity vs "
                        f"{profile['reference']}, tolerance {profile['max_route_changes']} changed route(s)")
    table.columns[0].no_wrap = True
    for r in profile["variants"]:
        parity = r["parity"]
        verdict = ("[green]pass[/green]" if r["passes"] else "[red]FAIL[/red]") if r["applicable"] else "reference"
        marker = " *" if r["name"] == profile.get("fastest_passing") else ""
        rho = parity["spearman"]
        table.add_row(f"{r['name']}{marker}", str(r["threads"]) if r["threads"] else "-",
                      f"{r['latency_p50_ms']:.3f}", f"{r['latency_p99_ms']:.3f}",
                      *[_rate(r["throughput"].get(b)) for b in sizes], f"{parity['max_abs_diff']:.2e}",
                      "n/a" if rho is None else f"{rho:.4f}", f"{parity['changed_routes']} / {parity['n']}", verdict)
    return table


def _context() -> tuple[Any, Any]:
    """The app context and the CLI user, an admin named by OS user (as every `reviewqueue` command acts)."""
    import getpass

    from reviewqueue.domain.permissions import Actor
    from reviewqueue.domain.states import Role
    from reviewqueue.services.context import bootstrap
    from reviewqueue.settings import Settings

    return bootstrap(Settings()), Actor(0, f"cli:{getpass.getuser()}", Role.ADMIN, ())


def bench_model_command(
    name: str,
    version: Annotated[int | None, typer.Option(help="Version number (default: the champion)")] = None,
    sample: Annotated[int, typer.Option(min=1, help="Inputs to measure on: the newest predictions' features, "
                                                    "else rows of the model's dataset")] = 256,
    batch_sizes: Annotated[str, typer.Option(help="Throughput batch sizes, comma-separated")] = "1,8,64,256",
    max_route_changes: Annotated[int, typer.Option(min=0, help="Parity tolerance: routing decisions a "
                                                               "configuration may change on the sample")] = 0,
    apply: Annotated[bool, typer.Option("--apply", help="Serve the fastest configuration that passes parity "
                                                        "(or --config) from the next request on")] = False,
    config: Annotated[str | None, typer.Option(help="With --apply: the measured configuration to serve, e.g. "
                                                    "cpu-int8-2t; refused if it fails parity")] = None,
    framework: Annotated[bool, typer.Option(help="Also time the framework the model came from (sklearn refit, "
                                                 "transformers + PyTorch)")] = True,
) -> None:
    """Measure NAME's version on every execution provider and configuration this machine offers (CPU threads,
    int8, CUDA, TensorRT), with parity against the stored graph; store the profile on the version."""
    from reviewqueue.errors import ConfigurationError, Conflict, ReviewQueueError
    from reviewqueue.services import model_bench

    sizes = _batch_sizes(batch_sizes)
    if config is not None and not apply:
        raise typer.BadParameter("--config names the configuration --apply serves: add --apply")
    try:
        ctx, actor = _context()
        with Progress(TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(), console=console) as bar:
            task = bar.add_task(f"{name}: starting", total=1.0)
            profile = model_bench.bench_model(
                ctx, actor, name, version, sample=sample, batch_sizes=sizes, max_route_changes=max_route_changes,
                frameworks=framework,
                progress=lambda step, fraction: bar.update(task, completed=fraction, description=f"{name}: {step}"))
    except (ConfigurationError, ReviewQueueError) as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(2) from None
    console.print(profile_table(name, profile))
    host = profile["host"]
    load = host.get("load_1m")
    console.print(f"host: {host['cores']} cores{f', load {load:.2f}' if load is not None else ''}, onnxruntime "
                  f"{host['onnxruntime']}, providers {', '.join(host['available_providers'])}", markup=False)
    console.print(f"fastest: {profile['fastest']}; fastest passing parity: {profile['fastest_passing'] or 'none'} "
                  "(* in the table)", markup=False)
    if not apply:
        return
    try:
        applied = model_bench.apply_config(ctx, actor, name, profile["version"], config)
    except Conflict as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(1) from None
    except ReviewQueueError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(2) from None
    console.print(f"applied: {name} v{profile['version']} serves with {applied['name']} ({applied['model_file']}, "
                  f"{', '.join(applied['providers'])}, {applied['intra_op_threads']} thread(s)) from the next "
                  "request on", markup=False)
