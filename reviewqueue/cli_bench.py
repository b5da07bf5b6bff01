"""`reviewqueue bench-model NAME`: the command's options and its table; the measuring is services.model_bench."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.measure import Measurement
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from reviewqueue.errors import ReviewQueueError

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
    for column in table.columns[1:]:  # a terminal narrower than the table folds a cell, never cuts it to "0.…"
        column.overflow = "fold"
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
    from reviewqueue.services import model_bench

    sizes = _batch_sizes(batch_sizes)
    if config is not None and not apply:
        raise typer.BadParameter("--config names the configuration --apply serves: add --apply")
    try:
        if config is not None:
            model_bench.check_config(config)  # before measuring, not after minutes of it
        ctx, actor = _context()
        with _progress(name) as progress:
            # with --apply the profile is stored by apply_config, with the config it applies: a refusal stores neither
            profile = model_bench.bench_model(
                ctx, actor, name, version, sample=sample, batch_sizes=sizes, max_route_changes=max_route_changes,
                frameworks=framework, progress=progress, store=not apply)
    except ReviewQueueError as exc:  # a configuration error too
        _refuse(exc)
    _print_profile(name, profile)
    if not apply:
        return
    try:
        applied = model_bench.apply_config(ctx, actor, name, profile["version"], config, measured=profile)
    except ReviewQueueError as exc:
        _refuse(exc)
    console.print(f"applied: {name} v{profile['version']} serves with {applied['name']} ({applied['model_file']}, "
                  f"{', '.join(applied['providers'])}, {applied['intra_op_threads']} thread(s)) from the next "
                  "request on", markup=False)


def _refuse(exc: ReviewQueueError) -> NoReturn:
    """The one line every `reviewqueue` command prints for it (an unknown model lists the registered ones, as
    `models register` does); exit 2 for what was typed or configured, 1 for the state met (a failed parity)."""
    from reviewqueue.cli_errors import explain

    problem = explain(exc)
    assert problem is not None  # every ReviewQueueError has its line
    typer.echo(f"error: {problem.message}", err=True)
    raise typer.Exit(problem.exit_code) from None


@contextmanager
def _progress(name: str) -> Iterator[Callable[[str, float], None]]:
    """bench_model's progress callback, shown from its first step: its checks (an unknown model, a version it
    lacks …) come before any step, so a refusal prints its one line and no progress bar."""
    bar = Progress(TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(), console=console)
    task: TaskID | None = None

    def update(step: str, fraction: float) -> None:
        nonlocal task
        if task is None:
            bar.start()
            task = bar.add_task(f"{name}: {step}", total=1.0)
        bar.update(task, completed=fraction, description=f"{name}: {step}")

    try:
        yield update
    finally:
        if task is not None:  # stopping a bar never started still prints a blank line where output is no terminal
            bar.stop()


def _print_profile(name: str, profile: dict[str, Any]) -> None:
    _print_table(profile_table(name, profile))
    for skipped in profile.get("skipped", ()):
        console.print(f"skipped {', '.join(skipped['names'])}: {skipped['reason']}", markup=False, soft_wrap=True)
    host = profile["host"]
    load = host.get("load_1m")
    console.print(f"host: {host['cores']} cores{f', load {load:.2f}' if load is not None else ''}, onnxruntime "
                  f"{host['onnxruntime']}, providers {', '.join(host['available_providers'])}", markup=False)
    console.print(f"fastest: {profile['fastest']}; fastest passing parity: {profile['fastest_passing'] or 'none'} "
                  "(* in the table)", markup=False)


def _print_table(table: Table) -> None:
    """In a terminal, the table fits its width; elsewhere (a CI log, a pipe, a file) it is printed at its own
    width: rich assumes 80 columns there, which cut every number to "0.…", and a log has no right edge."""
    if console.is_terminal:
        console.print(table)
        return
    natural = Measurement.get(console, console.options.update_width(10_000), table).maximum
    # a console of that width on the same output: print(width=…) can only narrow the console's own
    Console(file=console.file, width=max(console.width, natural)).print(table)
