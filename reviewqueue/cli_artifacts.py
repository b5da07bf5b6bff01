"""`reviewqueue artifacts push`: move versions recorded on this host's disk into the database artifact store."""

from __future__ import annotations

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
    import getpass

    from reviewqueue.domain.permissions import Actor
    from reviewqueue.domain.states import Role
    from reviewqueue.errors import ReviewQueueError
    from reviewqueue.services.artifact_moves import push_local_versions
    from reviewqueue.services.context import bootstrap

    actor = Actor(0, f"cli:{getpass.getuser()}", Role.ADMIN, ())  # as the other CLI acts: an admin on this host
    try:
        report = push_local_versions(bootstrap(Settings()), actor)
    except ReviewQueueError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(1) from None
    for line in report.lines:
        typer.echo(line)
    if report.left_behind:
        raise typer.Exit(1)
