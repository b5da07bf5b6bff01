from __future__ import annotations

import pytest
from pydantic import ValidationError

from reviewqueue.settings import Settings


def test_settings_read_prefixed_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REVIEWQUEUE_LEASE_SECONDS", "42")
    monkeypatch.setenv("REVIEWQUEUE_MODEL_MODULES", '["models.fraud", "models.other"]')
    settings = Settings()
    assert settings.lease_seconds == 42
    assert settings.model_modules == ["models.fraud", "models.other"]


def test_production_refuses_placeholder_secrets() -> None:
    with pytest.raises(ValidationError, match="stripe_webhook_secret is a placeholder"):
        Settings(environment="prod", stripe_webhook_secret="changeme")
    assert Settings(environment="dev", stripe_webhook_secret="changeme").stripe_webhook_secret is not None


def test_invalid_values_are_refused_at_start() -> None:
    with pytest.raises(ValidationError, match="lease_seconds"):
        Settings(lease_seconds=0)
