"""Shared fixtures. The suite runs on SQLite by default and on PostgreSQL when
REVIEWQUEUE_TEST_DATABASE_URL points at one (`.ci/run` runs both passes).

Each test gets empty tables (TRUNCATE on PostgreSQL, DELETE on SQLite) and the fraud model's version 1,
trained once per session and registered into the test's database, so tests don't pay for training.
One localstripe and one Slack/webhook sink serve the whole session, started on first use; the sink is
reset around each test. Plain helpers (event builders, make_settings, clean, …) live in tests/factories.py.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text

from reviewqueue.db.engine import make_engine
from reviewqueue.db.migrate import upgrade
from reviewqueue.db.tables import ModelVersion
from reviewqueue.domain.states import Role
from reviewqueue.registry import Registry
from reviewqueue.services import auth, training
from reviewqueue.services.context import AppContext
from reviewqueue.settings import Settings
from reviewqueue_dev.sandbox import LocalStripe, Sink
from tests.factories import People, clean, create_person, install_text_version, install_version, make_settings

PG_URL = os.environ.get("REVIEWQUEUE_TEST_DATABASE_URL")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # Deselect, never skip: PostgreSQL-only tests (SKIP LOCKED concurrency) are not collected in the SQLite pass;
    # tests that run the product on its embedded SQLite whatever the test database (`reviewqueue run` in Chromium,
    # the README walkthrough) are not collected again in the PostgreSQL pass, where they would repeat themselves.
    other_pass = "embedded_only" if PG_URL else "postgres_only"
    selected = [i for i in items if other_pass not in i.keywords]
    deselected = [i for i in items if other_pass in i.keywords]
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
        ids[name] = create_person(ctx, name, role, queues)
        tokens[name] = auth.issue_token(ctx, ids[name], label="test")
    return People(ids=ids, **tokens)


@pytest.fixture
def live_api(ctx: AppContext) -> Iterator[str]:
    """The real API app served by uvicorn on 127.0.0.1 (a free port), over this test's database."""
    from reviewqueue.api import create_app
    from reviewqueue_dev.threaded_server import ThreadedServer

    with ThreadedServer(create_app(ctx)) as server:
        yield server.url


@pytest.fixture
def http(live_api: str) -> Iterator[Any]:
    """``http(token)``: an httpx client on the live API signed in with that token; all closed after the test."""
    import httpx

    clients: list[httpx.Client] = []

    def as_(token: str) -> httpx.Client:
        client = httpx.Client(base_url=live_api, headers={"Authorization": f"Bearer {token}"}, timeout=15)
        clients.append(client)
        return client

    yield as_
    for client in clients:
        client.close()


@pytest.fixture
def as_(http: Any, people: People) -> Any:
    """``as_(role)``: an API client signed in as that test principal (``people``)."""
    return lambda who: http(getattr(people, who))


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


@pytest.fixture(scope="session")
def localstripe() -> Iterator[LocalStripe]:
    """One localstripe child process per session, started by the first test that asks; each test counts only
    its own charges. Stopped (by PID) at the end of the session."""
    with LocalStripe() as server:
        yield server


@pytest.fixture(scope="session")
def _session_sink() -> Iterator[Sink]:
    with Sink() as server:
        yield server


@pytest.fixture
def sink(_session_sink: Sink) -> Iterator[Sink]:
    """The session's Slack/webhook sink, empty (no messages, deliveries or scripted faults) for each test."""
    _session_sink.reset()
    yield _session_sink
    _session_sink.reset()
