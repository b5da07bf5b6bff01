"""Fixtures for UI tests: a live API over the root conftest's ``text_ctx`` (fraud v1 and self_harm v1 as
champions; self_harm v1 is trained ONCE per session there, since exporting the MiniLM encoder needs torch:
~30-45 s), and the clinic's people.

The root conftest's ``ctx`` / ``live_api`` stay fraud-only (and cheap): only tests that ask for ``text_ctx``,
``text_api``, ``clinic`` or ``clinic_app`` pay for the export. ``app`` / ``clinic_app``: the Streamlit app under
AppTest, pointed at the fraud-only or the two-model API.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from streamlit.testing.v1 import AppTest

from reviewqueue.domain.states import Role
from reviewqueue.services import auth
from reviewqueue.services.context import AppContext
from tests.factories import create_person
from tests.ui.helpers import APP, Clinic


@pytest.fixture
def app(live_api: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[AppTest]:
    monkeypatch.setenv("REVIEWQUEUE_API_URL", live_api)
    yield AppTest.from_file(APP, default_timeout=30)


@pytest.fixture
def clinic_app(text_api: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[AppTest]:
    monkeypatch.setenv("REVIEWQUEUE_API_URL", text_api)
    yield AppTest.from_file(APP, default_timeout=60)


@pytest.fixture
def text_api(text_ctx: AppContext) -> Iterator[str]:
    """The real API over text_ctx, served by uvicorn on a free loopback port."""
    from reviewqueue.api import create_app
    from reviewqueue_dev.threaded_server import ThreadedServer

    with ThreadedServer(create_app(text_ctx)) as server:
        yield server.url


@pytest.fixture
def clinic(text_ctx: AppContext) -> Clinic:
    specs = {"clinician": (Role.REVIEWER, ["clinical", "clinical-learning"]), "admin": (Role.ADMIN, []),
             "integration": (Role.INTEGRATION, [])}
    tokens: dict[str, str] = {}
    ids: dict[str, int] = {}
    for name, (role, queues) in specs.items():
        ids[name] = create_person(text_ctx, name, role, queues)
        tokens[name] = auth.issue_token(text_ctx, ids[name], label="test")
    return Clinic(ids=ids, **tokens)
