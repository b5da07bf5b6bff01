"""Plain helpers the tests share: event builders, settings, table cleaning, version installs, principals.

Fixtures live in the conftest files and build on these; tests import these with ``from tests.factories import …``.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from sqlalchemy import insert, text, update

from reviewqueue.db.tables import ModelVersion, Principal
from reviewqueue.domain.states import Role
from reviewqueue.services import auth
from reviewqueue.services.context import AppContext
from reviewqueue.settings import Settings

TABLES = ["artifact_chunks", "artifacts",
          "votes", "labels", "outbox_actions", "decisions", "review_items", "predictions", "training_runs",
          "model_versions", "inbound_events", "api_tokens", "principals", "leases", "audit_log"]
TABLES += ["routing_policies"]  # a model's stored routing policies: no foreign keys, cleaned in any order
TABLES += ["drift_alerts"]  # drift alerts sent (no foreign keys): a test starts with none


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


@cache
def password_hash(name: str) -> str:
    """The scrypt hash of ``f"{name}-pw"``, computed once per test session (scrypt costs ~50 ms a call)."""
    return auth.hash_password(f"{name}-pw")


def create_person(ctx: AppContext, name: str, role: Role, queues: list[str] | None = None) -> int:
    """A principal who signs in with ``f"{name}-pw"``: created without a password, then given the cached hash."""
    principal_id = auth.create_principal(ctx, name, role, queues or [])
    table = Principal.__table__  # type: ignore[attr-defined]
    with ctx.engine.begin() as conn:
        conn.execute(update(table).where(table.c.id == principal_id).values(password_hash=password_hash(name)))
    return principal_id


@dataclass
class People:
    admin: str
    reviewer: str
    reviewer2: str
    outsider: str
    integration: str
    data_scientist: str
    ids: dict[str, int]


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
