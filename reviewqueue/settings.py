"""One typed Settings object, read from ``REVIEWQUEUE_*`` environment variables and injected everywhere.

Never a module-level singleton: the CLI builds one at start, tests build their own with ``Settings(...)``.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

ENV_PREFIX = "REVIEWQUEUE_"
PLACEHOLDER_SECRETS = {"", "changeme", "dev", "dev-secret", "secret", "whsec_dev"}
MODULE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")


def name_list(value: Any, what: str, example: str) -> list[str]:
    """A comma list (spaces and empty entries ignored) or a JSON list of names, each once, in the order given."""
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            try:
                value = json.loads(text)
            except json.JSONDecodeError as exc:
                raise ValueError(f"not a JSON list ({exc.msg}); or write {what} separated by commas, "
                                 f"e.g. {example}") from None
        else:
            value = text.split(",")
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"a list of {what}, e.g. {example}")
    return list(dict.fromkeys(v.strip() for v in value if v.strip()))


def module_list(value: Any) -> Any:
    """``REVIEWQUEUE_MODEL_MODULES`` as people write it: ``models.loan,models.fraud`` (spaces and empty entries
    ignored) or a JSON list; each entry a dotted module name, so ``models/loan.py`` is refused naming the fix."""
    names = name_list(value, "module names", "models.loan,models.fraud")
    for name in names:
        if not MODULE_NAME.match(name):
            hint = name.removesuffix(".py").replace("/", ".").strip(".")
            raise ValueError(f"{name!r} is not a module name: write it as Python imports it, e.g. {hint!r}")
    return names  # each module once, in the order given


def provider_list(value: Any) -> Any:
    """``REVIEWQUEUE_ORT_PROVIDERS`` as a comma list or a JSON list of ONNX Runtime provider names; empty = unset."""
    if value is None:
        return None
    return name_list(value, "provider names", "CUDAExecutionProvider,CPUExecutionProvider") or None


class Settings(BaseSettings):
    """reviewqueue's configuration. Every field is ``REVIEWQUEUE_<FIELD>`` in the environment."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", populate_by_name=True)

    environment: Literal["dev", "test", "prod"] = "dev"
    database_url: str = "sqlite:///var/reviewqueue.db"
    artifact_dir: Path = Path("var/artifacts")
    # where model files live: "local" (artifact_dir, one host or a shared volume) or "database" (every API and
    # worker host reads them from the database; artifact_dir is then this host's cache), reviewqueue.artifacts
    artifact_store: Literal["local", "database"] = "local"
    # a comma list (models.loan,models.fraud) or a JSON list; NoDecode: the env value reaches module_list as text
    model_modules: Annotated[list[str], NoDecode] = Field(default_factory=lambda: ["models.fraud"])

    # ingest and queues
    batch_limit: int = Field(10_000, ge=1)
    lease_seconds: int = Field(300, ge=5)
    # after a reviewer releases an item, their claims skip it this long (others may claim it at once)
    release_hold_seconds: int = Field(600, ge=0)
    # how long a process routes with the routing policy it last read: another process's policy change (an admin
    # applying thresholds) is seen within this many seconds (services.policies)
    routing_policy_cache_seconds: float = Field(5.0, ge=0)

    # outbox and worker
    outbox_batch_size: int = Field(50, ge=1)
    outbox_visibility_seconds: int = Field(60, ge=1)
    outbox_max_attempts: int = Field(8, ge=1)
    retry_base_seconds: float = Field(1.0, gt=0)
    retry_max_seconds: float = Field(300.0, gt=0)
    worker_poll_seconds: float = Field(0.1, gt=0)  # idle poll; 0.5 s made decision → delivered p50 275 ms
    worker_concurrency: int = Field(8, ge=1)
    # the worker's Prometheus metrics on 127.0.0.1:<port>, unauthenticated (loopback only); 0 = not served
    worker_metrics_port: int = Field(0, ge=0, le=65535)
    scheduler_enabled: bool = True
    leader_lease_seconds: int = Field(30, ge=2)
    retrain_check_seconds: int = Field(60, ge=1)
    sla_check_seconds: int = Field(30, ge=1)
    # drift (services/drift.py): PSI from which a day is "watch" / "alert"; a day with fewer predictions than
    # drift_min_sample never alerts (sampling alone gives PSI ≈ (bins − 1) / n); at most drift_rows_per_day of
    # a day's predictions are compared (5,000 leave a noise PSI of ~0.002 at 10 bins); the daily check (cron,
    # UTC) pages drift_alert_channel once per input and day
    drift_watch_psi: float = Field(0.1, gt=0)
    drift_alert_psi: float = Field(0.25, gt=0)
    drift_min_sample: int = Field(200, ge=1)
    drift_rows_per_day: int = Field(5_000, ge=100)
    drift_alert_channel: str = Field("#model-monitoring", min_length=1)
    drift_alert_cron: str = "15 6 * * *"

    # API
    api_url: str = "http://127.0.0.1:8000"
    session_hours: int = Field(12, ge=1)
    # sign-in throttling, per API process (each keeps its own window): failures per user name, and attempts
    # per client address, within sign_in_window_seconds; beyond them 429 with Retry-After
    sign_in_failures_per_name: int = Field(5, ge=1)
    sign_in_attempts_per_address: int = Field(60, ge=1)
    sign_in_window_seconds: int = Field(900, ge=1)
    # lifetime of tokens issued with `reviewqueue users token` or POST /v1/tokens unless asked otherwise
    token_days: int = Field(90, ge=1)
    # GET /metrics (Prometheus) answers only "Authorization: Bearer <metrics_token>"; unset = /metrics is off (404)
    metrics_token: SecretStr | None = None
    # resource limits (reviewqueue/api/guard.py, reviewqueue/http_limits.py): a larger body gets 413 before
    # authentication; 16 MiB holds a full batch_limit batch of typical events. A request's head must arrive
    # within header_timeout_seconds and its body within body_timeout_seconds, or the connection is closed.
    max_body_bytes: int = Field(16 * 1024 * 1024, ge=1024)
    header_timeout_seconds: float = Field(10.0, gt=0)
    body_timeout_seconds: float = Field(60.0, gt=0)

    # connectors: unset means "not configured" and the action fails visibly
    stripe_api_key: SecretStr | None = None
    stripe_api_base: str | None = None  # e.g. http://127.0.0.1:8420 for localstripe
    stripe_webhook_secret: SecretStr | None = None
    stripe_webhook_tolerance_seconds: int = 300
    slack_token: SecretStr | None = None
    slack_base_url: str | None = None  # e.g. http://127.0.0.1:8425/api/ for the local sink
    business_db_url: str | None = None
    webhook_url: str | None = None
    webhook_secret: SecretStr | None = None  # Standard Webhooks secret, "whsec_<base64>"
    webhook_timeout_seconds: float = 10.0
    inbound_webhook_secret: SecretStr | None = None  # Standard Webhooks secret business systems sign events with
    ui_base_url: str = "http://127.0.0.1:8501"

    # serving (and training-time evaluation, bench-model): ONNX Runtime execution providers in order of preference,
    # e.g. CUDAExecutionProvider,CPUExecutionProvider (a comma list or a JSON list); unset = the version's applied
    # serving config (`reviewqueue bench-model --apply`), else CUDA when this build has it, then CPU.
    # A provider this onnxruntime build lacks is refused at start, naming the `reviewqueue[gpu]` extra.
    ort_providers: Annotated[list[str] | None, NoDecode] = None
    # intra-op threads per session; 0 = the version's applied serving config, else auto (cores // 2, at least 1:
    # the API and the worker share a small machine's cores). REVIEWQUEUE_ORT_THREADS is the older name.
    ort_intra_op_threads: int = Field(0, ge=0, validation_alias=AliasChoices(
        "REVIEWQUEUE_ORT_INTRA_OP_THREADS", "REVIEWQUEUE_ORT_THREADS"))

    # the UI's demo extras, set by `reviewqueue run`
    sandbox_url: str | None = None  # the local Slack/webhook sink whose messages the Sandbox page shows
    demo: bool = False  # the sign-in page lists the demo accounts
    # the demo seeder's accounts as it created them, [[name, password, role, [queues]], …] (JSON), for that list
    demo_accounts: list[tuple[str, str, str, list[str]]] = Field(default_factory=list)
    business_db_hint: str | None = None  # how to look at the demo's business database

    @field_validator("model_modules", mode="before")
    @classmethod
    def _module_list(cls, value: Any) -> Any:
        return module_list(value)

    @field_validator("ort_providers", mode="before")
    @classmethod
    def _provider_list(cls, value: Any) -> Any:
        return provider_list(value)

    @model_validator(mode="after")
    def _refuse_placeholder_secrets(self) -> Settings:
        if self.environment != "prod":
            return self
        for name in ("stripe_api_key", "stripe_webhook_secret", "slack_token", "webhook_secret",
                     "inbound_webhook_secret", "metrics_token"):
            value = getattr(self, name)
            if value is not None and value.get_secret_value() in PLACEHOLDER_SECRETS:
                raise ValueError(f"{name} is a placeholder secret; set a real one in production")
        return self

    @model_validator(mode="after")
    def _drift_thresholds_in_order(self) -> Settings:
        if self.drift_watch_psi >= self.drift_alert_psi:
            raise ValueError(f"drift_watch_psi ({self.drift_watch_psi:g}) must be below drift_alert_psi "
                             f"({self.drift_alert_psi:g})")
        from apscheduler.triggers.cron import CronTrigger  # the worker schedules the daily check with it

        try:
            CronTrigger.from_crontab(self.drift_alert_cron, timezone="UTC")
        except ValueError as exc:
            raise ValueError(f"drift_alert_cron {self.drift_alert_cron!r} is not a 5-field cron: {exc}") from None
        return self


def setting_variable(name: str, environ: Mapping[str, str] | None = None) -> str:
    """The environment variable behind a Settings field, as a validation error's location names it (the field,
    or the first of its aliases): for a field read under several names, the one set in ``environ`` (the first
    set wins, as pydantic-settings reads them), so an error names the variable the operator actually wrote."""
    names = _variable_names(name)
    present = {key.upper() for key in (os.environ if environ is None else environ)}
    return next((variable for variable in names if variable in present), names[0])


def _variable_names(name: str) -> list[str]:
    """Every variable a field is read from, in pydantic-settings' order; a name no field has: its prefixed form."""
    for field_name, field in Settings.model_fields.items():
        alias = field.validation_alias
        choices = alias.choices if isinstance(alias, AliasChoices) else [alias] if alias else []
        names = [choice.upper() for choice in choices if isinstance(choice, str)]
        if name.upper() in {field_name.upper(), *names}:
            return names or [ENV_PREFIX + field_name.upper()]
    return [name.upper() if name.upper().startswith(ENV_PREFIX) else ENV_PREFIX + name.upper()]
