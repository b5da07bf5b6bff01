"""Fixtures for UI tests of the text model (self_harm): a registry with both models, self_harm v1 trained ONCE
per session (exporting the MiniLM encoder to ONNX needs torch: ~30-45 s), and per test a context and a live
API over the test's database with fraud v1 and self_harm v1 as champions.

The root conftest's ``ctx`` / ``live_api`` stay fraud-only (and cheap): only tests that ask for ``text_ctx``,
``text_api``, ``clinic`` or ``clinic_app`` pay for the export. ``app`` / ``clinic_app``: the Streamlit app under
AppTest, pointed at the fraud-only or the two-model API.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from streamlit.testing.v1 import AppTest

from reviewqueue.db.engine import make_engine
from reviewqueue.db.migrate import upgrade
from reviewqueue.db.tables import ModelVersion
from reviewqueue.domain.states import Role
from reviewqueue.registry import Registry
from reviewqueue.services import auth, training
from reviewqueue.services.context import AppContext
from reviewqueue.settings import Settings
from tests.conftest import clean, install_version
from tests.ui.helpers import APP, Clinic

TEXT_MODULES = ["models.fraud", "models.self_harm"]


@pytest.fixture
def app(live_api: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[AppTest]:
    monkeypatch.setenv("REVIEWQUEUE_API_URL", live_api)
    yield AppTest.from_file(APP, default_timeout=30)


@pytest.fixture
def clinic_app(text_api: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[AppTest]:
    monkeypatch.setenv("REVIEWQUEUE_API_URL", text_api)
    yield AppTest.from_file(APP, default_timeout=60)


@pytest.fixture(scope="session")
def text_registry() -> Registry:
    reg = Registry()
    reg.load_modules(TEXT_MODULES)
    return reg.freeze()


@pytest.fixture(scope="session")
def trained_self_harm(tmp_path_factory: pytest.TempPathFactory, text_registry: Registry) -> dict[str, Any]:
    """Train self_harm v1 (zero-shot head on the exported encoder) once per session; return its version row."""
    folder = tmp_path_factory.mktemp("train-text")
    url = f"sqlite:///{folder / 'scratch.db'}"
    upgrade(url)
    settings = Settings(environment="test", database_url=url, artifact_dir=folder / "artifacts")
    ctx = AppContext(settings=settings, engine=make_engine(url), registry=text_registry)
    result = training.train_version(ctx, text_registry.model("self_harm"), trigger="register")
    assert result.promoted, result
    with ctx.engine.connect() as conn:
        row = conn.execute(select(ModelVersion.__table__)).one()  # type: ignore[attr-defined]
    ctx.engine.dispose()
    return dict(row._mapping)


def install_text_version(ctx: AppContext, row: dict[str, Any]) -> int:
    """install_version copies model.onnx only; a text version also needs its tokenizer.json beside it."""
    source = Path(row["artifact_path"]).parent
    target = Path(ctx.settings.artifact_dir) / row["model_name"] / str(row["version"])
    shutil.copytree(source, target, dirs_exist_ok=True)
    return install_version(ctx, row)


@pytest.fixture
def text_ctx(settings: Settings, text_registry: Registry, trained_fraud: dict[str, Any],
             trained_self_harm: dict[str, Any]) -> Iterator[AppContext]:
    engine = make_engine(settings.database_url)
    clean(engine)
    context = AppContext(settings=settings, engine=engine, registry=text_registry)
    install_version(context, trained_fraud)
    install_text_version(context, trained_self_harm)
    yield context
    engine.dispose()


@pytest.fixture
def text_api(text_ctx: AppContext) -> Iterator[str]:
    """The real API over text_ctx, served by uvicorn on a free loopback port."""
    from reviewqueue.api import create_app
    from reviewqueue.sandbox_server import ThreadedServer

    with ThreadedServer(create_app(text_ctx)) as server:
        yield server.url


@pytest.fixture
def clinic(text_ctx: AppContext) -> Clinic:
    specs = {"clinician": (Role.REVIEWER, ["clinical", "clinical-learning"]), "admin": (Role.ADMIN, []),
             "integration": (Role.INTEGRATION, [])}
    tokens: dict[str, str] = {}
    ids: dict[str, int] = {}
    for name, (role, queues) in specs.items():
        ids[name] = auth.create_principal(text_ctx, name, role, queues, password=f"{name}-pw")
        tokens[name] = auth.issue_token(text_ctx, ids[name], label="test")
    return Clinic(ids=ids, **tokens)
