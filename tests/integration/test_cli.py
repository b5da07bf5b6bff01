"""The operator's CLI, in-process: migrate, register, list, add users and tokens, retrain with progress."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from reviewqueue.cli import _cli_actor as cli_actor
from reviewqueue.cli import app
from reviewqueue.db.engine import make_engine
from reviewqueue.db.tables import AuditEntry, ModelVersion, TrainingRun
from reviewqueue.services import auth, identity
from reviewqueue.services.context import bootstrap
from reviewqueue.settings import Settings


@pytest.fixture
def cli_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("REVIEWQUEUE_DATABASE_URL", url)
    monkeypatch.setenv("REVIEWQUEUE_ARTIFACT_DIR", str(tmp_path / "artifacts"))
    return url


def invoke(*args: str) -> str:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, result.output + repr(result.exception)
    return result.output


def test_register_list_users_tokens_and_retrain(cli_env: str) -> None:
    assert "database at head" in invoke("db", "upgrade")
    out = invoke("models", "register", "fraud")
    assert "version 1" in out and "promoted" in out
    assert "already serves" in invoke("models", "register", "fraud")
    listing = invoke("models", "list")
    assert "fraud" in listing and "champion" in listing
    assert "added ana (reviewer)" in invoke("users", "add", "ana", "--role", "reviewer", "--queue", "fraud",
                                             "--password", "pw-ana")
    token = invoke("users", "token", "ana").strip()
    ctx = bootstrap(Settings())
    actor = auth.authenticate(ctx, token)
    assert (actor.name, actor.role.value, actor.queues) == ("ana", "reviewer", ("fraud",))
    out = invoke("retrain", "fraud")
    assert "run 2: version 2" in out
    engine = make_engine(cli_env)
    with engine.connect() as conn:
        versions = conn.execute(select(ModelVersion.version, ModelVersion.status)).all()
        runs = conn.execute(select(TrainingRun.trigger)).scalars().all()
    assert runs == ["register", "manual"]
    assert len(versions) == 2
    # a person changes what serves: shadow, then promote, then roll back — each recorded with who and why
    assert "shadow: v2 scores beside the champion, by cli:" in invoke("models", "shadow", "fraud", "2",
                                                                      "--reason", "watch it")
    assert invoke("models", "shadow-report", "fraud").startswith("v2 in shadow scored 0 predictions")
    assert "shadow stopped: v2" in invoke("models", "shadow-stop", "fraud", "--reason", "enough")
    assert "promote: v2 serves instead of v1, by cli:" in invoke("models", "promote", "fraud", "2", "--reason", "go")
    assert "rollback: v1 serves instead of v2" in invoke("models", "rollback", "fraud", "--reason", "back")
    with engine.connect() as conn:
        statuses = dict(conn.execute(select(ModelVersion.version, ModelVersion.status)).all())
        triggers = conn.execute(select(TrainingRun.trigger).order_by(TrainingRun.id)).scalars().all()
    assert statuses == {1: "champion", 2: "retired"}
    assert triggers == ["register", "manual", "shadow_start", "shadow_stop", "promote", "rollback"]
    with engine.connect() as conn:  # every admin act is in the audit log, by the CLI's OS user
        acts = conn.execute(select(AuditEntry.action, AuditEntry.actor).order_by(AuditEntry.id)).all()  # type: ignore[arg-type]
    assert [a for a, _ in acts] == ["user.add", "token.issue", "model.retrain", "model.shadow_start",
                                    "model.shadow_stop", "model.promote", "model.rollback"]
    assert all(who.startswith("cli:") for _, who in acts)
    ctx.engine.dispose()
    engine.dispose()


def test_unknown_user_token_fails_clearly(cli_env: str) -> None:
    invoke("db", "upgrade")
    result = CliRunner().invoke(app, ["users", "token", "nobody"])
    assert result.exit_code == 1 and "no principal named 'nobody'" in result.output


def test_tokens_expire_by_default_are_listed_revoked_and_a_disabled_user_loses_them(cli_env: str) -> None:
    """`users token` gives an expiring token (token_days, or --expires-in) unless --no-expiry; `tokens list`
    shows them, `tokens revoke` and `users disable` stop them at once; each act is in the audit log."""
    from datetime import UTC, datetime, timedelta

    from reviewqueue.errors import Unauthorized

    invoke("db", "upgrade")
    invoke("users", "add", "erp", "--role", "integration")
    invoke("users", "add", "ana", "--role", "reviewer", "--queue", "fraud")
    default = invoke("users", "token", "erp").strip()
    month = invoke("users", "token", "erp", "--label", "month", "--expires-in", "30d").strip()
    forever = invoke("users", "token", "erp", "--label", "forever", "--no-expiry").strip()
    anas = invoke("users", "token", "ana").strip()
    bad = CliRunner().invoke(app, ["users", "token", "erp", "--expires-in", "soon"])
    assert bad.exit_code == 2 and "30d" in bad.output
    ctx = bootstrap(Settings())
    now = datetime.now(UTC)
    listed = {t.label: t for t in identity.list_tokens(ctx, cli_actor(), "erp")}
    assert abs(listed["cli"].expires_at - (now + timedelta(days=Settings().token_days))) < timedelta(minutes=1)
    assert abs(listed["month"].expires_at - (now + timedelta(days=30))) < timedelta(minutes=1)
    assert listed["forever"].expires_at is None
    table = invoke("tokens", "list", "--user", "erp")
    assert "forever" in table and "never" in table and "active" in table
    for token in (default, month, forever, anas):
        auth.authenticate(ctx, token)

    assert "revoked" in invoke("tokens", "revoke", str(listed["month"].id))
    with pytest.raises(Unauthorized):
        auth.authenticate(ctx, month)
    assert "disabled (1 tokens revoked)" in invoke("users", "disable", "ana")
    with pytest.raises(Unauthorized):
        auth.authenticate(ctx, anas)
    refused = CliRunner().invoke(app, ["tokens", "revoke", "999"])
    assert refused.exit_code == 1 and "token 999 not found" in refused.output
    with ctx.engine.connect() as conn:
        acts = conn.execute(select(AuditEntry.action).order_by(AuditEntry.id)).scalars().all()  # type: ignore[arg-type]
    assert acts == ["user.add", "user.add", "token.issue", "token.issue", "token.issue", "token.issue",
                    "token.revoke", "user.disable"]
    ctx.engine.dispose()
