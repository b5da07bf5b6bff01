"""`reviewqueue` command line: run | api | ui | worker | db upgrade | models … | retrain … | users … | tokens …"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from reviewqueue.cli_artifacts import artifacts_app
from reviewqueue.cli_errors import DEBUG_KEY, OneLineErrors, explain
from reviewqueue.cli_monitor import monitor_app
from reviewqueue.domain.states import Role
from reviewqueue.settings import Settings

app = typer.Typer(help="reviewqueue: human-in-the-loop review queues for model predictions.", no_args_is_help=True,
                  cls=OneLineErrors)  # what an operator can fix is one line with the fix (cli_errors.py)
db_app = typer.Typer(help="Database migrations.", no_args_is_help=True)
models_app = typer.Typer(help="Registered models and their versions.", no_args_is_help=True)
users_app = typer.Typer(help="People and systems that use the API.", no_args_is_help=True)
tokens_app = typer.Typer(help="API tokens: list and revoke.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(models_app, name="models")
app.add_typer(users_app, name="users")
app.add_typer(tokens_app, name="tokens")
app.add_typer(artifacts_app, name="artifacts")
app.add_typer(monitor_app, name="monitor")
console = Console()


@app.callback()
def _root(ctx: typer.Context, debug: Annotated[bool, typer.Option(
        "--debug", help="Show the full traceback of any error instead of one line")] = False) -> None:
    ctx.meta[DEBUG_KEY] = debug


def _setup_logging() -> None:
    from reviewqueue.logs import configure_logging

    configure_logging()  # every extra={...} field on the line, as key=value


def _ctx():  # type: ignore[no-untyped-def]
    from reviewqueue.services.context import bootstrap

    return bootstrap(Settings())


@db_app.command("upgrade")
def db_upgrade(revision: str = "head") -> None:
    """Apply migrations up to REVISION (default: head)."""
    from reviewqueue.db.migrate import upgrade

    settings = Settings()
    upgrade(settings.database_url, revision)
    console.print(f"[green]database at {revision}[/green]: {settings.database_url}")


def _train_with_progress(model: str, trigger: str) -> None:
    from reviewqueue.errors import Conflict
    from reviewqueue.services import training

    ctx = _ctx()
    spec = ctx.registry.model(model)
    try:
        with Progress(TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(), console=console) as bar:
            task = bar.add_task(f"{model}: starting", total=1.0)
            result = training.train_version(
                ctx, spec, trigger=trigger,
                progress=lambda step, fraction: bar.update(task, completed=fraction, description=f"{model}: {step}"),
            )
    except Conflict as exc:  # another retrain of this model is going: one line, no traceback
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(1) from None
    if trigger == "manual":
        from reviewqueue.services import audit

        audit.record_now(ctx, _cli_actor(), "model.retrain", f"model:{model}",
                         {"run_id": result.run_id, "status": str(result.status), "promoted": result.promoted})
    if result.error:
        console.print(f"[red]training run {result.run_id} failed[/red]: {result.error}")
        raise typer.Exit(1)
    verdict = "[green]promoted[/green]" if result.promoted else "[yellow]not promoted[/yellow]"
    metric = spec.retrain.metric
    console.print(f"run {result.run_id}: version {result.version} {verdict}; {metric} candidate="
                  f"{result.candidate_metrics.get(metric)} champion={result.champion_metrics.get(metric)}")
    console.print(f"decision: {result.decision}", markup=False)
    for warning in result.warnings:
        console.print(f"warning: {warning}", markup=False, style="yellow")


@models_app.command("register")
def models_register(
    name: str, force: Annotated[bool, typer.Option(help="Train a new version even if one serves")] = False,
) -> None:
    """Train version 1 of a registered model on its dataset, export to ONNX, store and serve it; for a
    bring-your-own model (onnx=… / transformer=…), check its declared file and store it as a gated version."""
    from reviewqueue.services import registration
    from reviewqueue.services.versions import find_champion

    ctx = _ctx()
    spec = ctx.registry.model(name)
    if registration.brings_its_own(spec):
        _register_own_file(ctx, spec)
        return
    with ctx.engine.connect() as conn:
        current = find_champion(conn, name)
    if current and not force:
        console.print(f"{name}: version {current.version} already serves (use --force to train another)")
        return
    _train_with_progress(name, "register")


def _register_own_file(ctx: Any, spec: Any) -> None:
    """One line per outcome: refused (the field at fault), already held, or the run's version and decision."""
    from reviewqueue.errors import ReviewQueueError
    from reviewqueue.services import registration

    try:
        result = registration.register(ctx, spec)
    except ReviewQueueError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(1) from None
    run = result.run
    if run is None:
        console.print(f"{spec.name}: {result.summary}", markup=False)
        return
    if run.error:
        console.print(f"registration run {run.run_id} failed: {run.error}", markup=False, style="red")
        raise typer.Exit(1)
    console.print(f"{spec.name}: run {run.run_id}: version {run.version} "
                  f"{'promoted' if run.promoted else 'not promoted'}", markup=False)
    console.print(f"decision: {run.decision}", markup=False)
    if not run.promoted and _serves_nothing(ctx, spec.name):
        # a first version the gate refused leaves nothing to score events with: say both ways out
        console.print(f"{spec.name} has no serving version: fix the file or its dataset and register again, or "
                      f"serve version {run.version} anyway with `reviewqueue models promote {spec.name} "
                      f"{run.version} --reason \"…\"`", markup=False, style="red")
        raise typer.Exit(1)


def _serves_nothing(ctx: Any, name: str) -> bool:
    from reviewqueue.services.versions import find_champion

    with ctx.engine.connect() as conn:
        return find_champion(conn, name) is None


@models_app.command("list")
def models_list() -> None:
    """Registered models, their champion and versions."""
    from reviewqueue.services.versions import model_versions

    ctx = _ctx()
    table = Table("model", "version", "status", "roc_auc", "created", "sha256")
    for spec in ctx.registry.models():
        rows = model_versions(ctx, spec.name)
        if not rows:
            table.add_row(spec.name, "-", "not registered", "", "", "")
        for v in rows:
            auc = v.metrics.get("roc_auc")
            table.add_row(spec.name, str(v.version), v.status, f"{auc:.4f}" if auc else "",
                          v.created_at.strftime("%Y-%m-%d %H:%M"), v.sha256[:12])
    console.print(table)


def _cli_actor():  # type: ignore[no-untyped-def]
    """Whoever runs the CLI on a host with the database's credentials acts as an admin, named by OS user."""
    import getpass

    from reviewqueue.domain.permissions import Actor

    return Actor(0, f"cli:{getpass.getuser()}", Role.ADMIN, ())


Reason = Annotated[str, typer.Option(help="Why: recorded on the run with who did it")]


@contextmanager
def _refusals_in_one_line(conflict_hint: str = "") -> Iterator[None]:
    """Input the services refuse (a name or reason with NUL or bytes that are not UTF-8, an unknown model …):
    one line on stderr naming the field, exit status 2 (1 for a conflict such as a duplicate name, followed by
    ``conflict_hint``), no traceback."""
    from reviewqueue.errors import Conflict, ReviewQueueError

    try:
        yield
    except ReviewQueueError as exc:
        problem = explain(exc)
        hint = f": {conflict_hint}" if conflict_hint and isinstance(exc, Conflict) else ""
        typer.echo(f"error: {problem.message if problem else exc.message}{hint}", err=True)
        raise typer.Exit(problem.exit_code if problem else 2) from None


def _by_hand(operation: str, *args: object) -> None:
    """Run one of services.versions' changes by hand as the CLI user and print the run it recorded."""
    from reviewqueue.services import versions

    with _refusals_in_one_line():
        run = getattr(versions, operation)(_ctx(), _cli_actor(), *args)
    console.print(f"run {run.id}: {run.decision}")


@models_app.command("promote")
def models_promote(name: str, version: int, reason: Reason) -> None:
    """Serve VERSION of NAME from the next request on (recorded as a run with who and why)."""
    _by_hand("promote", name, version, reason)


@models_app.command("rollback")
def models_rollback(name: str, reason: Reason) -> None:
    """Serve again the version of NAME that served before the current champion."""
    _by_hand("rollback", name, reason)


@models_app.command("shadow")
def models_shadow(name: str, version: int, reason: Reason) -> None:
    """Let VERSION of NAME score live traffic beside the champion, routing nothing."""
    _by_hand("start_shadow", name, version, reason)


@models_app.command("shadow-stop")
def models_shadow_stop(name: str, reason: Reason) -> None:
    """Stop NAME's shadow version."""
    _by_hand("stop_shadow", name, reason)


@models_app.command("shadow-report")
def models_shadow_report(name: str) -> None:
    """NAME's shadow version against the champion on the labelled predictions both scored."""
    from reviewqueue.services import versions

    console.print(versions.shadow_report(_ctx(), name).summary)


@app.command("retrain")
def retrain(model: str) -> None:
    """Retrain MODEL now on its dataset plus labels; promote if not worse than the champion."""
    _train_with_progress(model, "manual")


def _route_shown(spec: Any, route: str) -> str:
    """A route as this model names it, the stored value beside it for queries: "auto: decline (auto_flag)"."""
    label = spec.route_label(route)
    return label if label == route else f"{label} ({route})"


from reviewqueue.cli_bench import bench_model_command  # noqa: E402  (the command's body lives there)

app.command("bench-model")(bench_model_command)


@app.command("evaluate")
def evaluate(
    name: str,
    data: Annotated[Path, typer.Option(help="CSV: the model's feature columns, the label column and optionally "
                                             "selection_probability (π: metrics are weighted by 1/π)")],
    versions: Annotated[str | None, typer.Option(help="Comma-separated version numbers (default: every one)")]
    = None,
    label_column: Annotated[str, typer.Option(help="Column of verdicts (e.g. fraud/legit) or 1/0")] = "label",
) -> None:
    """How each stored version of NAME does on a labelled CSV: ROC AUC with its interval, the routes at the
    model's thresholds, and each version against the champion (nothing is stored)."""
    import csv

    from reviewqueue.domain.permissions import Permission, authorize
    from reviewqueue.errors import ReviewQueueError
    from reviewqueue.services import evaluate as evaluation

    def fail(message: str) -> typer.Exit:
        typer.echo(f"error: {message}", err=True)
        return typer.Exit(2)

    try:
        numbers = [int(v) for v in versions.split(",") if v.strip()] if versions else None
    except ValueError:
        raise fail(f"--versions: expected comma-separated version numbers, got {versions!r}") from None
    try:
        with data.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            records = list(reader)
            columns = list(reader.fieldnames or [])
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise fail(f"{data}: {exc}") from None
    try:
        ctx = _ctx()
        authorize(_cli_actor(), Permission.VERSIONS_SCORE)
        labelled = evaluation.parse_labelled(ctx.registry.model(name), columns, records, label_column)
        with Progress(TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(), console=console) as bar:
            task = bar.add_task(f"{name}: scoring", total=1.0)
            result = evaluation.evaluate(
                ctx, name, labelled.rows, labelled.labels, labelled.probabilities, numbers,
                progress=lambda step, fraction: bar.update(task, completed=fraction, description=f"{name}: {step}"),
            )
    except ReviewQueueError as exc:
        raise fail(exc.message) from None

    def auc(value: float | None, low: float | None, high: float | None, signed: bool = False) -> str:
        if value is None:
            return "n/a"
        spread = "" if low is None or high is None else (
            f" [{low:+.3f}, {high:+.3f}]" if signed else f" [{low:.3f}, {high:.3f}]")
        return f"{value:+.3f}{spread}" if signed else f"{value:.4f}{spread}"

    compared = any(v.difference is not None for v in result.versions)
    table = Table("version", "n", "positives", "ROC AUC [95%]", "vs champion [95%]",
                  title=f"{name} on {data.name}{', weighted by 1/π' if result.weighted else ''} (* champion)")
    for v in result.versions:
        champion = v.version == result.champion
        table.add_row(f"v{v.version}{' *' if champion else ''}", str(v.n), str(v.positives),
                      auc(v.auc, v.auc_low, v.auc_high),
                      ("reference" if champion else auc(v.difference, v.difference_low, v.difference_high,
                                                        signed=True)) if compared else "-")
    console.print(table)
    routes = Table("version", "route", "share of rows", "precision", "share of positives",
                   title=f"routes at review_low={ctx.registry.model(name).routing.review_low}, "
                         f"review_high={ctx.registry.model(name).routing.review_high}")
    for v in result.versions:
        for r in v.routes:
            routes.add_row(f"v{v.version}", _route_shown(ctx.registry.model(name), r.route), f"{r.share:.1%}",
                           "n/a" if r.precision is None else f"{r.precision:.1%}",
                           "n/a" if r.recall is None else f"{r.recall:.1%}")
    console.print(routes)
    console.print(result.summary(), markup=False, soft_wrap=True)


@app.command("simulate")
def simulate(
    name: str,
    data: Annotated[Path, typer.Option(help="CSV: the model's feature columns and the label column")],
    budget: Annotated[int | None, typer.Option(help="Reviews in all over the replay (default: no cap)")] = None,
    reviews_per_day: Annotated[int, typer.Option(help="Items the scripted reviewer decides each day")] = 100,
    days: Annotated[int, typer.Option(help="Days the stream is replayed over")] = 7,
    retrain_every: Annotated[int, typer.Option(
        help="Retrain (through the real gate) every N days; 0: only at --checkpoints")] = 2,
    checkpoints: Annotated[str, typer.Option(
        help="Label counts (e.g. 64,256,1024) at which to retrain and compare with random and top-of-queue "
             "labels")] = "",
    seed: Annotated[int, typer.Option(help="Seed of the stream/evaluation split and the random labeller")] = 0,
    label_column: Annotated[str, typer.Option(help="Column of verdicts (e.g. fraud/legit) or 1/0")] = "label",
    json_path: Annotated[Path | None, typer.Option("--json", help="Also write the figures as JSON here")] = None,
) -> None:
    """Backtest NAME on a labelled CSV in a private database: replay 70% as daily traffic through the real
    routing, a scripted reviewer deciding with the true labels and the real retraining gate; measure the served
    version on the untouched 30% beside a random-label baseline (nothing is stored)."""
    import csv
    import dataclasses
    import json

    from reviewqueue.errors import ReviewQueueError
    from reviewqueue.registry import Registry
    from reviewqueue.services import evaluate as evaluation
    from reviewqueue.services import simulate as simulation

    def fail(message: str) -> typer.Exit:
        typer.echo(f"error: {message}", err=True)
        return typer.Exit(2)

    try:
        with data.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            records = list(reader)
            columns = list(reader.fieldnames or [])
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise fail(f"{data}: {exc}") from None
    try:
        counts = tuple(int(c) for c in checkpoints.replace(" ", "").split(",") if c)
    except ValueError:
        raise fail(f"--checkpoints: expected label counts such as 64,256,1024, got {checkpoints!r}") from None
    try:
        options = simulation.Options(days=days, reviews_per_day=reviews_per_day, retrain_every=retrain_every,
                                     budget=budget, seed=seed, checkpoints=counts)
        settings = Settings()
        registry = Registry()
        registry.load_modules(settings.model_modules)
        registry.freeze()
        spec = registry.model(name)
        labelled = evaluation.parse_labelled(spec, columns, records, label_column)
        with Progress(TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(), console=console) as bar:
            task = bar.add_task(f"{name}: starting", total=1.0)
            result = simulation.simulate(
                registry, name, labelled.rows, labelled.labels, options,
                progress=lambda step, fraction: bar.update(task, completed=fraction, description=f"{name}: {step}"),
                artifacts_from=Path(settings.artifact_dir),
            )
    except ReviewQueueError as exc:
        raise fail(exc.message) from None

    def auc(value: float | None, low: float | None = None, high: float | None = None) -> str:
        if value is None:
            return "n/a"
        return f"{value:.3f}" if low is None or high is None else f"{value:.3f} [{low:.3f}, {high:.3f}]"

    table = Table("day", "labels", "served", "served AUC [95%]", "random-label AUC", "reviewed", "pending",
                  "positives caught/waiting/missed", "gate",
                  title=f"{name} replayed from {data.name}: {result.stream_rows:,} rows streamed over "
                        f"{len(result.days)} days, {result.eval_rows:,} held back "
                        f"({result.eval_positives:,} positive)")
    for d in result.days:
        table.add_row(str(d.day), str(d.labels), f"v{d.served_version}",
                      auc(d.served_auc, d.served_auc_low, d.served_auc_high), auc(d.baseline_auc),
                      str(d.reviewed), str(d.pending), f"{d.caught}/{d.waiting}/{d.missed} of {d.positives}",
                      d.gate.split(":")[0] if d.gate else "-")
    console.print(table)
    for d in result.days:
        if d.gate:
            console.print(f"day {d.day} gate: {d.gate}", markup=False, soft_wrap=True)
    if result.checkpoints:
        points = Table("labels (positive)", "day", "served", "served AUC [95%]", "random labels AUC (positive)",
                       "top-of-queue AUC (positive)", "gate",
                       title="At each label count: the served version beside the same number of random and "
                             "top-of-queue labels")
        for c in result.checkpoints:
            points.add_row(f"{c.labels} ({c.positives})", str(c.day), f"v{c.served_version}",
                           auc(c.served_auc, c.served_auc_low, c.served_auc_high),
                           f"{auc(c.random_auc)} ({c.random_positives})", f"{auc(c.top_auc)} ({c.top_positives})",
                           c.gate.split(":")[0] if c.gate else "-")
        console.print(points)
        for c in result.checkpoints:
            console.print(f"{c.labels} labels gate: {c.gate}", markup=False, soft_wrap=True)
    console.print(result.summary(), markup=False, soft_wrap=True)
    if json_path is not None:
        json_path.write_text(json.dumps(dataclasses.asdict(result), indent=2) + "\n", encoding="utf-8")


@users_app.command("add")
def users_add(
    name: str,
    role: Annotated[Role, typer.Option(help="admin | data_scientist | reviewer | integration")],
    queue: Annotated[list[str] | None, typer.Option(help="Queues a reviewer may work (repeatable)")] = None,
    password: Annotated[str | None, typer.Option(help="Enables UI sign-in")] = None,
) -> None:
    """Add a principal."""
    from reviewqueue.services import auth

    with _refusals_in_one_line(conflict_hint=f"pick another name, or `reviewqueue users token {name}` for a token"):
        principal_id = auth.create_principal(_ctx(), name, role, list(queue or []), password)
    from reviewqueue.services import audit

    audit.record_now(_ctx(), _cli_actor(), "user.add", f"principal:{name}",
                     {"role": role.value, "queues": list(queue or []), "password": password is not None})
    console.print(f"added {name} ({role.value}) id={principal_id}")


def _or_exit(call: Any, *args: object) -> Any:
    """A service call; a refusal (unknown name, unknown token …) is one red line and exit status 1."""
    from reviewqueue.errors import ReviewQueueError

    try:
        return call(*args)
    except ReviewQueueError as exc:
        console.print(exc.message, style="red", markup=False)
        raise typer.Exit(1) from None


def _duration(text: str) -> timedelta:
    """'30d', '12h' or '45m' → a timedelta (for --expires-in)."""
    units = {"d": "days", "h": "hours", "m": "minutes"}
    number, unit = text[:-1], text[-1:]
    if unit not in units or not number.isdigit() or int(number) < 1:
        raise typer.BadParameter(f"{text!r}: a whole number followed by d, h or m (e.g. 30d)")
    return timedelta(**{units[unit]: int(number)})


@users_app.command("token")
def users_token(
    name: str, label: str = "cli",
    expires_in: Annotated[str | None, typer.Option(help="Lifetime, e.g. 30d, 12h or 45m; default: the "
                                                        "token_days setting")] = None,
    no_expiry: Annotated[bool, typer.Option("--no-expiry", help="A token that never expires")] = False,
) -> None:
    """Issue an API token for a principal (printed once; stored hashed); it expires unless --no-expiry."""
    from reviewqueue.services import identity

    if expires_in is not None and no_expiry:
        raise typer.BadParameter("--expires-in and --no-expiry exclude each other")
    ttl = _duration(expires_in) if expires_in is not None else None
    issued = _or_exit(identity.issue, _ctx(), _cli_actor(), label, ttl, name, no_expiry)
    print(issued.token)


def _set_disabled(name: str, disabled: bool) -> None:
    from reviewqueue.services import identity

    status = _or_exit(identity.set_disabled, _ctx(), _cli_actor(), name, disabled)
    state = f"disabled ({status.tokens_revoked} tokens revoked)" if disabled else "enabled"
    console.print(f"{name}: {state}")


@users_app.command("disable")
def users_disable(name: str) -> None:
    """Disable a principal: sign-in refused and every token revoked at once."""
    _set_disabled(name, True)


@users_app.command("enable")
def users_enable(name: str) -> None:
    """Enable a principal again (revoked tokens stay revoked)."""
    _set_disabled(name, False)


@tokens_app.command("list")
def tokens_list(user: Annotated[str | None, typer.Option(help="Only this principal's tokens")] = None) -> None:
    """Tokens, newest first: id, holder, label, created, expires, state (never the token itself)."""
    from reviewqueue.services import identity

    rows = _or_exit(identity.list_tokens, _ctx(), _cli_actor(), user)
    table = Table("id", "principal", "label", "created", "expires", "state")
    for t in rows:
        table.add_row(str(t.id), t.principal, t.label, t.created_at.strftime("%Y-%m-%d %H:%M"),
                      t.expires_at.strftime("%Y-%m-%d %H:%M") if t.expires_at else "never", t.state)
    console.print(table)


@tokens_app.command("revoke")
def tokens_revoke(token_id: int) -> None:
    """Revoke a token by id (see `tokens list`); it stops working at once."""
    from reviewqueue.services import identity

    revoked = _or_exit(identity.revoke, _ctx(), _cli_actor(), token_id)
    console.print(f"token {revoked.id} of {revoked.principal}: revoked")


@app.command("api")
def api(
    host: str = "127.0.0.1", port: int = 8000, workers: int = 1, log_level: str = "info",
    access_log: Annotated[bool, typer.Option(help="One log line per request")] = True,
) -> None:
    """Serve the HTTP API (workers > 1: that many processes sharing one listening socket)."""
    # Not uvicorn.run(workers=N): its shared socket leaves TCP_NODELAY off (~40 ms per response); see api/serve.py.
    from reviewqueue.api.serve import serve

    _setup_logging()
    serve(host=host, port=port, workers=workers, log_level=log_level, access_log=access_log)


@app.command("worker")
def worker() -> None:
    """Drain the outbox and run scheduled retraining (several may run; one leads the scheduler)."""
    from connectors.registry import build_connectors
    from reviewqueue.worker import Worker

    _setup_logging()
    ctx = _ctx()
    runner = Worker(ctx, build_connectors(ctx.settings))
    runner.install_signal_handlers()
    runner.run()


@app.command("ui")
def ui(port: int = 8501) -> None:
    """Serve the Streamlit UI (it talks to the API at REVIEWQUEUE_API_URL).

    Streamlit replaces this process (exec), so SIGTERM/SIGINT sent to this PID stop Streamlit and free its port;
    its settings beyond these flags are in ui/.streamlit/config.toml (read next to the script)."""
    import os
    import sys

    script = Path(__file__).resolve().parent.parent / "ui" / "app.py"
    argv = [sys.executable, "-m", "streamlit", "run", str(script),
            "--server.port", str(port), "--server.address", "127.0.0.1",
            "--server.headless", "true", "--browser.gatherUsageStats", "false"]
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, argv)


PLUGIN_GROUP = "reviewqueue.commands"


def _run_needs_dev_extra() -> None:
    """Run everything with demo data and local sandboxes (needs the `dev` or `demo` extra)."""
    typer.echo("`reviewqueue run` needs the dev extra (the demo tools): pip install 'reviewqueue[dev]', or "
               "pip install -e '.[dev]' in a checkout", err=True)
    raise typer.Exit(1)


def load_plugin_commands(target: typer.Typer = app) -> None:
    """Register the commands other distributions declare under the `reviewqueue.commands` entry-point group.

    Loaded when the command line starts (main()), never on import: the runtime never imports the dev package
    (`reviewqueue run` lives in reviewqueue_dev.cli). Without that plugin, `run` explains what is missing.
    """
    from importlib.metadata import entry_points

    names = {c.name for c in target.registered_commands}
    for ep in entry_points(group=PLUGIN_GROUP):
        if ep.name not in names:
            target.command(ep.name)(ep.load())
            names.add(ep.name)
    if "run" not in names:
        target.command("run")(_run_needs_dev_extra)


def main() -> None:
    load_plugin_commands(app)
    app()


if __name__ == "__main__":
    main()
