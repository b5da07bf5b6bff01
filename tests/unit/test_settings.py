from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st
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


# ---- REVIEWQUEUE_MODEL_MODULES: a plain comma list or a JSON list ------------------------------------------------

identifier = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,8}", fullmatch=True)
module_names = st.lists(st.lists(identifier, min_size=1, max_size=3).map(".".join), min_size=1, max_size=5,
                        unique=True)


@given(names=module_names, separator=st.sampled_from([",", ", ", " ,", ",\t"]), trailing=st.booleans())
def test_model_modules_read_a_comma_list_or_a_json_list(names: list[str], separator: str, trailing: bool) -> None:
    comma = separator.join(names) + ("," if trailing else "")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("REVIEWQUEUE_MODEL_MODULES", comma)
        assert Settings().model_modules == names
        env.setenv("REVIEWQUEUE_MODEL_MODULES", json.dumps(names))
        assert Settings().model_modules == names
    assert Settings(model_modules=comma).model_modules == names


def test_model_modules_name_each_module_once_in_the_order_given(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REVIEWQUEUE_MODEL_MODULES", "models.loan,models.fraud,models.loan")
    assert Settings().model_modules == ["models.loan", "models.fraud"]


@pytest.mark.parametrize(("value", "says"), [
    ("models/loan.py", "'models/loan.py' is not a module name: write it as Python imports it, e.g. 'models.loan'"),
    ('["models.loan"', "not a JSON list"),
    ('[1, 2]', "a list of module names"),
    ("models.loan,models fraud", "'models fraud' is not a module name"),
])
def test_a_bad_module_list_is_refused_naming_the_variable(monkeypatch: pytest.MonkeyPatch, value: str,
                                                          says: str) -> None:
    monkeypatch.setenv("REVIEWQUEUE_MODEL_MODULES", value)
    with pytest.raises(ValidationError) as refused:
        Settings()
    [error] = refused.value.errors()
    assert error["loc"] == ("model_modules",) and says in error["msg"]


# ---- a refused setting is named as the operator wrote it, once prefixed ----------------------------------------

@pytest.mark.parametrize("variable", ["REVIEWQUEUE_ORT_INTRA_OP_THREADS", "REVIEWQUEUE_ORT_THREADS"])
def test_a_refused_aliased_setting_names_the_variable_that_was_set(monkeypatch: pytest.MonkeyPatch,
                                                                    variable: str) -> None:
    from typer.testing import CliRunner

    from reviewqueue.cli import app

    monkeypatch.setenv(variable, "-3")
    result = CliRunner().invoke(app, ["models", "list"])
    assert result.exit_code == 2, result.output
    assert result.stderr.strip() == f"error: {variable}: Input should be greater than or equal to 0 (got '-3')"
    assert result.stderr.count("REVIEWQUEUE_") == 1


def test_the_variable_read_first_is_named_when_both_names_are_set(monkeypatch: pytest.MonkeyPatch) -> None:
    from reviewqueue.settings import setting_variable

    monkeypatch.setenv("REVIEWQUEUE_ORT_THREADS", "2")
    assert setting_variable("REVIEWQUEUE_ORT_INTRA_OP_THREADS") == "REVIEWQUEUE_ORT_THREADS"
    monkeypatch.setenv("REVIEWQUEUE_ORT_INTRA_OP_THREADS", "-1")  # read before the older name: the one refused
    with pytest.raises(ValidationError) as refused:
        Settings()
    [error] = refused.value.errors()
    assert error["input"] == "-1"
    assert setting_variable(str(error["loc"][0])) == "REVIEWQUEUE_ORT_INTRA_OP_THREADS"
    assert setting_variable("ort_intra_op_threads") == "REVIEWQUEUE_ORT_INTRA_OP_THREADS"
    assert setting_variable("lease_seconds") == "REVIEWQUEUE_LEASE_SECONDS"


def test_a_refusal_across_settings_is_its_message_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from reviewqueue.cli import app

    monkeypatch.setenv("REVIEWQUEUE_DRIFT_WATCH_PSI", "0.5")
    result = CliRunner().invoke(app, ["models", "list"])
    assert result.exit_code == 2, result.output
    assert result.stderr.strip() == "error: drift_watch_psi (0.5) must be below drift_alert_psi (0.25)"
