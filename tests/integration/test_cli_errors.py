"""What stops a CLI command is one line on stderr with the fix, and an exit status a script can act on:
2 for a usage or configuration error (a bad setting, a model module that does not import, an unknown model),
1 for the state the command met (a database without its schema, a duplicate user). ``--debug`` keeps the
traceback for whoever needs it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select, text
from typer.testing import CliRunner

from reviewqueue.cli import app
from reviewqueue.db.engine import make_engine
from reviewqueue.db.tables import Principal
from reviewqueue.errors import NotFound
from tests.conftest import PG_URL


@pytest.fixture
def cli_env(ctx, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    """The CLI on the test's migrated database (SQLite or PostgreSQL, as the pass runs)."""
    monkeypatch.setenv("REVIEWQUEUE_DATABASE_URL", ctx.settings.database_url)
    monkeypatch.setenv("REVIEWQUEUE_ARTIFACT_DIR", str(ctx.settings.artifact_dir))
    monkeypatch.setenv("REVIEWQUEUE_MODEL_MODULES", "models.fraud")


@pytest.fixture
def unmigrated_url(tmp_path: Path) -> Iterator[str]:
    """A database with no tables: a fresh SQLite file, or an empty schema first on PostgreSQL's search path."""
    if not PG_URL:
        yield f"sqlite:///{tmp_path / 'fresh.db'}"
        return
    engine = make_engine(PG_URL)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA IF EXISTS unmigrated CASCADE"))
        conn.execute(text("CREATE SCHEMA unmigrated"))
    try:
        yield f"{PG_URL}{'&' if '?' in PG_URL else '?'}options=-csearch_path%3Dunmigrated"
    finally:
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA IF EXISTS unmigrated CASCADE"))
        engine.dispose()


def refused(*args: str, code: int) -> str:
    """Run the CLI; assert the exit status and that stderr is exactly one line; return that line."""
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == code, (result.output, result.exception)
    line = result.stderr.strip()
    assert line.startswith("error: ") and "\n" not in line and "Traceback" not in result.output, result.output
    return line


def principals(ctx) -> int:  # type: ignore[no-untyped-def]
    with ctx.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(Principal.__table__)).scalar_one())


def test_a_database_without_its_schema_says_to_run_db_upgrade(unmigrated_url: str, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REVIEWQUEUE_DATABASE_URL", unmigrated_url)
    monkeypatch.setenv("REVIEWQUEUE_ARTIFACT_DIR", str(tmp_path / "artifacts"))
    line = refused("models", "register", "fraud", code=1)
    assert "the database has no schema yet" in line and "model_versions" in line
    assert line.split(": run ")[1].startswith("`reviewqueue db upgrade` (database: ")
    assert "the database has no schema yet" in refused("users", "add", "ana", "--role", "reviewer", code=1)
    assert not (tmp_path / "artifacts").exists()  # nothing trained before the refusal


def test_an_unknown_model_lists_the_registered_ones(cli_env: None) -> None:
    line = refused("models", "register", "loan", code=2)
    assert line.startswith("error: unknown model 'loan'; registered: fraud (from "
                           "REVIEWQUEUE_MODEL_MODULES=models.fraud; add the model's module there"), line
    assert refused("retrain", "loan", code=2).startswith("error: unknown model 'loan'; registered: fraud")


def test_a_duplicate_user_is_one_line_and_nothing_more_is_stored(ctx, cli_env: None) -> None:  # type: ignore[no-untyped-def]
    assert CliRunner().invoke(app, ["users", "add", "ana", "--role", "reviewer", "--queue", "fraud"]).exit_code == 0
    before = principals(ctx)
    line = refused("users", "add", "ana", "--role", "admin", code=1)
    assert line == ("error: principal 'ana' already exists: pick another name, or `reviewqueue users token ana` "
                    "for a token")
    assert principals(ctx) == before


@pytest.mark.parametrize(("variable", "value", "says"), [
    ("REVIEWQUEUE_LEASE_SECONDS", "0", "error: REVIEWQUEUE_LEASE_SECONDS: Input should be greater than or equal "
                                       "to 5 (got '0')"),
    ("REVIEWQUEUE_ENVIRONMENT", "staging", "error: REVIEWQUEUE_ENVIRONMENT: Input should be 'dev', 'test' or "
                                           "'prod' (got 'staging')"),
    ("REVIEWQUEUE_MODEL_MODULES", "models/fraud.py", "error: REVIEWQUEUE_MODEL_MODULES: 'models/fraud.py' is not a "
                                                     "module name: write it as Python imports it, e.g. "
                                                     "'models.fraud'"),
])
def test_a_bad_setting_names_its_variable(cli_env: None, monkeypatch: pytest.MonkeyPatch, variable: str,
                                          value: str, says: str) -> None:
    monkeypatch.setenv(variable, value)
    assert refused("models", "list", code=2).startswith(says)


@pytest.mark.parametrize(("modules", "says"), [
    ("models.fraud,models.lone", "error: model module 'models.lone' (REVIEWQUEUE_MODEL_MODULES) was not found: "
                                 "write it as Python imports it"),
    # the module exists but one of its own imports fails: that import is named
    ("tests.cli_broken_model", "error: model module 'tests.cli_broken_model' (REVIEWQUEUE_MODEL_MODULES) does "
                               "not import: No module named 'xgboost_not_installed'"),
])
def test_a_model_module_that_does_not_import_is_named(cli_env: None, monkeypatch: pytest.MonkeyPatch,
                                                      modules: str, says: str) -> None:
    monkeypatch.setenv("REVIEWQUEUE_MODEL_MODULES", modules)
    assert refused("models", "register", "fraud", code=2).startswith(says)


def test_debug_keeps_the_traceback(cli_env: None) -> None:
    result = CliRunner().invoke(app, ["--debug", "models", "register", "loan"])
    assert isinstance(result.exception, NotFound) and result.exit_code == 1
    assert "error:" not in result.stderr
