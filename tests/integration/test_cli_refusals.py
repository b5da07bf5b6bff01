"""CLI commands that write what an operator typed refuse text that cannot be stored (NUL, bytes that are not
UTF-8, which arrive as lone surrogates) in one line naming the field, exit 2, and store nothing."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from reviewqueue.cli import app
from reviewqueue.db.tables import Principal, TrainingRun


@pytest.fixture
def cli_env(ctx, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REVIEWQUEUE_DATABASE_URL", ctx.settings.database_url)
    monkeypatch.setenv("REVIEWQUEUE_ARTIFACT_DIR", str(ctx.settings.artifact_dir))
    monkeypatch.setenv("REVIEWQUEUE_MODEL_MODULES", '["models.fraud"]')


def count(ctx, table) -> int:  # type: ignore[no-untyped-def]
    with ctx.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table.__table__)).scalar_one())


@pytest.mark.parametrize(("args", "field"), [
    (["users", "add", "ana\udcff", "--role", "reviewer"], "name"),  # argv bytes 0xff, decoded surrogateescape
    (["users", "add", "ana\x00", "--role", "reviewer"], "name"),
    (["users", "add", "ana", "--role", "reviewer", "--queue", "fr\udcffaud"], "queues[0]"),
    (["users", "add", "ana", "--role", "admin", "--password", "pw\ud800"], "password"),
    (["models", "shadow-stop", "fraud", "--reason", "because\x00"], "reason"),
])
def test_cli_refuses_unstorable_text_in_one_line_exit_2(ctx, cli_env, args, field):
    before = (count(ctx, Principal), count(ctx, TrainingRun))
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2, (result.output, result.exception)
    line = result.stderr.strip()
    assert "\n" not in line and line.startswith(f"error: {field}:"), line
    assert (count(ctx, Principal), count(ctx, TrainingRun)) == before
