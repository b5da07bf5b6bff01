"""`reviewqueue artifacts push`: move versions recorded on this host's disk into the database artifact store;
`reviewqueue artifacts restore`: mend a stored version's corrupted files from good copies."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from reviewqueue.settings import Settings

__all__ = ["artifacts_app"]

artifacts_app = typer.Typer(help="The artifact store model files live in (REVIEWQUEUE_ARTIFACT_STORE).",
                            no_args_is_help=True)


@artifacts_app.command("push")
def push() -> None:
    """Store every version whose files are on this host's disk in the database store, checked by sha256.

    Exit status 1 when a version was left behind (missing here, or corrupted), after every line is printed: a
    deployment script must not switch its hosts over while a version they serve is still on this disk alone.
    """
    from reviewqueue.services.artifact_moves import push_local_versions

    _report(lambda ctx, actor: push_local_versions(ctx, actor))


@artifacts_app.command("restore")
def restore(
    model: str, version: int,
    source: Annotated[Path, typer.Option("--from", help="A folder holding good copies of the version's files, by "
                                                        "name (a host's ARTIFACT_DIR/MODEL/VERSION, a backup)")],
) -> None:
    """Write back each file of MODEL's VERSION whose bytes in the database store differ from its sha256, from a
    copy in --from with exactly the recorded sha256; sound files are left alone. Exit 1 while one stays corrupted."""
    from reviewqueue.services.artifact_moves import restore_version

    _report(lambda ctx, actor: restore_version(ctx, actor, model, version, source))


def _report(run: Callable[[Any, Any], Any]) -> None:
    """Run a store operation as this host's admin (as the other CLI commands act); print its lines; exit 1 when it
    left something behind, after every line."""
    import getpass

    from reviewqueue.domain.permissions import Actor
    from reviewqueue.domain.states import Role
    from reviewqueue.errors import ReviewQueueError
    from reviewqueue.services.context import bootstrap

    actor = Actor(0, f"cli:{getpass.getuser()}", Role.ADMIN, ())
    try:
        report = run(bootstrap(Settings()), actor)
    except ReviewQueueError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(1) from None
    for line in report.lines:
        typer.echo(line)
    if report.left_behind:
        raise typer.Exit(1)
