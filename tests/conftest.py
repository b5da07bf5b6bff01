"""Shared fixtures. The suite runs on SQLite by default and on PostgreSQL when
REVIEWQUEUE_TEST_DATABASE_URL points at one (`.ci/run` runs both passes).

Each test gets empty tables (TRUNCATE on PostgreSQL, DELETE on SQLite) and the fraud model's version 1,
trained once per session and registered into the test's database, so tests don't pay for training.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert, select, text

from reviewqueue.db.engine import make_engine
from reviewqueue.db.migrate import upgrade
from reviewqueue.db.tables import ModelVersion
from reviewqueue.domain.states import Role
from reviewqueue.registry import Registry
from reviewqueue.services import auth, training
from reviewqueue.services.context import AppContext
from reviewqueue.settings import Settings

PG_URL = os.environ.get("REVIEWQUEUE_TEST_DATABASE_URL")
TABLES = ["labels", "outbox_actions", "decisions", "review_items", "predictions", "training_runs",
          "model_versions", "inbound_events", "api_tokens", "principals", "leases"]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if PG_URL:
        return
    # PostgreSQL-only tests (SKIP LOCKED concurrency) are not collected in the SQLite pass: deselect, not skip.
    selected = [i for i in items if "postgres_only" not in i.keywords]
    deselected = [i for i in items if "postgres_only" in i.keywords]
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = selected


@pytest.fixture(autouse=True)
def _scrub_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in list(os.environ):
        if key.startswith("REVIEWQUEUE_") and key != "REVIEWQUEUE_TEST_DATABASE_URL":
            monkeypatch.delenv(key)


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    if PG_URL:
        engine = make_engine(PG_URL)
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
        engine.dispose()
        url = PG_URL
    else:
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'reviewqueue.db'}"
    upgrade(url)
    return url


@pytest.fixture(scope="session")
def registry() -> Registry:
    reg = Registry()
    reg.load_modules(["models.fraud"])
    return reg.freeze()


@pytest.fixture(scope="session")
def trained_fraud(tmp_path_factory: pytest.TempPathFactory, registry: Registry) -> dict[str, Any]:
    """Train fraud v1 once per session on a scratch SQLite database; return its version row."""
    folder = tmp_path_factory.mktemp("train")
    url = f"sqlite:///{folder / 'scratch.db'}"
    upgrade(url)
    settings = Settings(environment="test", database_url=url, artifact_dir=folder / "artifacts")
    ctx = AppContext(settings=settings, engine=make_engine(url), registry=registry)
    result = training.train_version(ctx, registry.model("fraud"), trigger="register")
    assert result.promoted, result
    with ctx.engine.connect() as conn:
        row = conn.execute(select(ModelVersion.__table__)).one()  # type: ignore[attr-defined]
    ctx.engine.dispose()
    return dict(row._mapping)


def make_settings(database_url: str, tmp_path: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "environment": "test", "database_url": database_url, "artifact_dir": tmp_path / "artifacts",
        "lease_seconds": 300, "retry_base_seconds": 0.05, "retry_max_seconds": 1.0, "worker_poll_seconds": 0.05,
    }
    values.update(overrides)
    return Settings(**values)


def clean(engine: Any) -> None:
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE"))
        else:
            for table in TABLES:
                conn.execute(text(f"DELETE FROM {table}"))


def install_version(ctx: AppContext, row: dict[str, Any]) -> int:
    """Register an already-trained version (artifact copied into this test's artifact dir)."""
    target = Path(ctx.settings.artifact_dir) / row["model_name"] / str(row["version"]) / "model.onnx"
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(row["artifact_path"], target)
    values = {k: v for k, v in row.items() if k != "id"}
    values["artifact_path"] = str(target)
    with ctx.engine.begin() as conn:
        table = ModelVersion.__table__  # type: ignore[attr-defined]
        return int(conn.execute(insert(table).values(**values).returning(table.c.id)).scalar_one())


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return make_settings(database_url, tmp_path)


@pytest.fixture
def ctx(settings: Settings, registry: Registry, trained_fraud: dict[str, Any]) -> Iterator[AppContext]:
    engine = make_engine(settings.database_url)
    clean(engine)
    context = AppContext(settings=settings, engine=engine, registry=registry)
    install_version(context, trained_fraud)
    yield context
    engine.dispose()


@dataclass
class People:
    admin: str
    reviewer: str
    reviewer2: str
    outsider: str
    integration: str
    data_scientist: str
    ids: dict[str, int]


@pytest.fixture
def people(ctx: AppContext) -> People:
    """One token per role; reviewers may work the fraud queue, the outsider reviewer may not."""
    specs = {
        "admin": (Role.ADMIN, []), "reviewer": (Role.REVIEWER, ["fraud"]), "reviewer2": (Role.REVIEWER, ["fraud"]),
        "outsider": (Role.REVIEWER, ["clinical"]), "integration": (Role.INTEGRATION, []),
        "data_scientist": (Role.DATA_SCIENTIST, []),
    }
    tokens: dict[str, str] = {}
    ids: dict[str, int] = {}
    for name, (role, queues) in specs.items():
        ids[name] = auth.create_principal(ctx, name, role, queues, password=f"{name}-pw")
        tokens[name] = auth.issue_token(ctx, ids[name], label="test")
    return People(ids=ids, **tokens)


def transaction(i: int, risky: bool = False, **overrides: Any) -> dict[str, Any]:
    """A valid fraud event; risky ones land in the review band or above."""
    features = {
        "amount": 950.0 if risky else 25.0 + i % 50, "merchant_category": "digital_goods" if risky else "grocery",
        "country_mismatch": risky, "account_age_days": 3 if risky else 900, "card_present": not risky,
        "hour": 3 if risky else 14, "velocity_1h": 4 if risky else 0,
    }
    features.update(overrides)
    return {"external_id": f"tx-{i}", "features": features,
            "context": {"charge_id": f"ch_{i}", "user_id": f"u{i}", "currency": "usd"}}


def uncertain(i: int, **overrides: Any) -> dict[str, Any]:
    """A valid fraud event that fraud v1 scores inside the review band (about 0.36): it becomes an item."""
    features = {
        "amount": 40.0 + (i % 5) * 0.5, "merchant_category": "grocery", "country_mismatch": True,
        "account_age_days": 5, "card_present": False, "hour": 3, "velocity_1h": 2,
    }
    features.update(overrides)
    return {"external_id": f"tx-u{i}", "features": features,
            "context": {"charge_id": f"ch_u{i}", "user_id": f"u{i}", "currency": "usd"}}


@pytest.fixture
def live_api(ctx: AppContext) -> Iterator[str]:
    """The real API app served by uvicorn on 127.0.0.1 (a free port), over this test's database."""
    from reviewqueue.api import create_app
    from reviewqueue_dev.threaded_server import ThreadedServer

    with ThreadedServer(create_app(ctx)) as server:
        yield server.url


@pytest.fixture(scope="session")
def full_registry() -> Registry:
    reg = Registry()
    reg.load_modules(["models.fraud", "models.self_harm"])
    return reg.freeze()


@pytest.fixture(scope="session")
def trained_self_harm(tmp_path_factory: pytest.TempPathFactory, full_registry: Registry) -> dict[str, Any]:
    """Export the MiniLM encoder and build self_harm v1 (zero-shot) once per session."""
    folder = tmp_path_factory.mktemp("train_text")
    url = f"sqlite:///{folder / 'scratch.db'}"
    upgrade(url)
    settings = Settings(environment="test", database_url=url, artifact_dir=folder / "artifacts")
    ctx = AppContext(settings=settings, engine=make_engine(url), registry=full_registry)
    result = training.train_version(ctx, full_registry.model("self_harm"), trigger="register")
    assert result.promoted, result
    with ctx.engine.connect() as conn:
        row = conn.execute(select(ModelVersion.__table__)).one()  # type: ignore[attr-defined]
    ctx.engine.dispose()
    return {**dict(row._mapping), "artifact_dir": str(settings.artifact_dir)}


def install_text_version(ctx: AppContext, row: dict[str, Any]) -> int:
    """Like install_version, for a text version: its folder (graph + tokenizer) and the shared encoder."""
    source = Path(row["artifact_path"]).parent
    target = Path(ctx.settings.artifact_dir) / row["model_name"] / str(row["version"])
    shutil.copytree(source, target, dirs_exist_ok=True)
    encoder = Path(row["artifact_dir"]) / row["model_name"] / "_encoder"
    shutil.copytree(encoder, target.parent / "_encoder", dirs_exist_ok=True)
    values = {k: v for k, v in row.items() if k not in ("id", "artifact_dir")}
    values["artifact_path"] = str(target / "model.onnx")
    with ctx.engine.begin() as conn:
        table = ModelVersion.__table__  # type: ignore[attr-defined]
        return int(conn.execute(insert(table).values(**values).returning(table.c.id)).scalar_one())


@pytest.fixture
def text_ctx(settings: Settings, full_registry: Registry, trained_fraud: dict[str, Any],
             trained_self_harm: dict[str, Any]) -> Iterator[AppContext]:
    """A context with both models registered and serving their version 1."""
    engine = make_engine(settings.database_url)
    clean(engine)
    context = AppContext(settings=settings, engine=engine, registry=full_registry)
    install_version(context, trained_fraud)
    install_text_version(context, trained_self_harm)
    yield context
    engine.dispose()
