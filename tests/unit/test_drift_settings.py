"""Drift settings are checked at start: thresholds in order, a cron the worker can schedule."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from reviewqueue.settings import Settings


def test_defaults_are_the_customary_psi_thresholds() -> None:
    s = Settings()
    assert (s.drift_watch_psi, s.drift_alert_psi, s.drift_min_sample, s.drift_alert_cron) == (
        0.1, 0.25, 200, "15 6 * * *")


@pytest.mark.parametrize(("values", "says"), [
    ({"drift_watch_psi": 0.3}, "drift_watch_psi (0.3) must be below drift_alert_psi (0.25)"),
    ({"drift_alert_cron": "every morning"}, "drift_alert_cron 'every morning' is not a 5-field cron"),
    ({"drift_min_sample": 0}, "greater than or equal to 1"),
])
def test_bad_drift_settings_are_refused_by_name(monkeypatch: pytest.MonkeyPatch, values: dict[str, object],
                                                says: str) -> None:
    for name, value in values.items():
        monkeypatch.setenv(f"REVIEWQUEUE_{name.upper()}", str(value))
    with pytest.raises(ValidationError, match=says.replace("(", r"\(").replace(")", r"\)")):
        Settings()
