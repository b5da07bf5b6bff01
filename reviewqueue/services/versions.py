"""Model versions: the champion lookup that serving uses, and the listing the UI shows."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Connection

from reviewqueue.db.tables import ModelVersion
from reviewqueue.domain.states import VersionStatus
from reviewqueue.errors import NoChampion

versions = ModelVersion.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Champion:
    id: int
    version: int
    artifact_path: str
    sha256: str
    input_schema: dict[str, Any]


def champion(conn: Connection, model_name: str) -> Champion:
    row = conn.execute(
        select(versions.c.id, versions.c.version, versions.c.artifact_path, versions.c.sha256,
               versions.c.input_schema)
        .where(versions.c.model_name == model_name, versions.c.status == VersionStatus.CHAMPION)
    ).first()
    if row is None:
        raise NoChampion(f"model {model_name!r} has no champion version; run `reviewqueue models register "
                         f"{model_name}`")
    return Champion(row.id, row.version, row.artifact_path, row.sha256, row.input_schema)


def find_champion(conn: Connection, model_name: str) -> Champion | None:
    try:
        return champion(conn, model_name)
    except NoChampion:
        return None


def list_versions(conn: Connection, model_name: str) -> list[dict[str, Any]]:
    rows = conn.execute(
        select(versions.c.id, versions.c.version, versions.c.status, versions.c.sha256, versions.c.metrics,
               versions.c.data_fingerprint, versions.c.lineage, versions.c.created_at, versions.c.promoted_at)
        .where(versions.c.model_name == model_name)
        .order_by(versions.c.version.desc())
    ).all()
    return [dict(r._mapping) for r in rows]
