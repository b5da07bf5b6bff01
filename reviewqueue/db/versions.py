"""Model versions: the champion lookup serving uses, the listing the UI shows, and the writes a training run makes."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import bindparam, case, func, select
from sqlalchemy.engine import Connection

from reviewqueue.db.tables import versions_table
from reviewqueue.domain.states import VersionStatus
from reviewqueue.errors import NoChampion
from reviewqueue.schemas import VersionOut

__all__ = [
    "Champion", "VersionMetrics", "champion", "count_champions", "find_champion", "find_version",
    "insert_version", "list_versions", "make_champion", "next_version_number", "previous_champion",
    "retire_champion", "serving_versions", "set_shadow", "stop_shadow", "version_by_number", "version_numbers",
    "StoredVersion", "ServingProfileRow", "serving_profile", "set_serving_config", "set_serving_profile",
]


@dataclass(frozen=True)
class Champion:
    """The version that serves a model now, with what scoring needs to load and verify it."""

    id: int
    version: int
    artifact_path: str
    sha256: str
    input_schema: dict[str, Any]
    serving_config: dict[str, Any] | None = None  # bench-model --apply's choice; the scorer cache reads it


class VersionMetrics(NamedTuple):
    """A version's id with its held-out metrics and lineage (version quality)."""

    id: int
    metrics: dict[str, Any]
    lineage: dict[str, Any]


def champion(conn: Connection, model_name: str) -> Champion:
    """champion: the serving version of a model; NoChampion if none."""
    row = conn.execute(
        select(versions_table.c.id, versions_table.c.version, versions_table.c.artifact_path,
               versions_table.c.sha256, versions_table.c.input_schema, versions_table.c.serving_config)
        .where(versions_table.c.model_name == model_name, versions_table.c.status == VersionStatus.CHAMPION)
    ).first()
    if row is None:
        raise NoChampion(f"model {model_name!r} has no champion version; run `reviewqueue models register "
                         f"{model_name}`")
    return Champion(row.id, row.version, row.artifact_path, row.sha256, row.input_schema, row.serving_config)


def find_champion(conn: Connection, model_name: str) -> Champion | None:
    """find_champion: the serving version of a model, or None."""
    try:
        return champion(conn, model_name)
    except NoChampion:
        return None


def list_versions(conn: Connection, model_name: str) -> list[VersionOut]:
    """list_versions: every version of a model, newest first."""
    rows = conn.execute(
        select(versions_table.c.id, versions_table.c.version, versions_table.c.status, versions_table.c.sha256,
               versions_table.c.metrics, versions_table.c.data_fingerprint, versions_table.c.lineage,
               versions_table.c.created_at, versions_table.c.promoted_at)
        .where(versions_table.c.model_name == model_name)
        .order_by(versions_table.c.version.desc())
    ).all()
    return [VersionOut.model_validate(r) for r in rows]


def find_version(conn: Connection, model_name: str, version: int) -> VersionMetrics | None:
    """find_version: one version's id, metrics and lineage by its number, or None."""
    row = conn.execute(
        select(versions_table.c.id, versions_table.c.metrics, versions_table.c.lineage)
        .where(versions_table.c.model_name == model_name, versions_table.c.version == version)
    ).first()
    return VersionMetrics._make(row) if row is not None else None


def version_numbers(conn: Connection, version_ids: Iterable[int]) -> dict[int, int]:
    """version_numbers: version number by version id."""
    rows = conn.execute(select(versions_table.c.id, versions_table.c.version)
                        .where(versions_table.c.id.in_(list(version_ids)))).all()
    return {r.id: r.version for r in rows}


def next_version_number(conn: Connection, model_name: str) -> int:
    """next_version_number: one more than the model's highest version number (1 for the first)."""
    return int(conn.execute(
        select(func.coalesce(func.max(versions_table.c.version), 0))
        .where(versions_table.c.model_name == model_name)
    ).scalar_one()) + 1


def count_champions(conn: Connection, model_name: str) -> int:
    """count_champions: how many versions of a model are champion (0 or 1)."""
    return int(conn.execute(
        select(func.count()).select_from(versions_table)
        .where(versions_table.c.model_name == model_name, versions_table.c.status == VersionStatus.CHAMPION)
    ).scalar_one())


def retire_champion(conn: Connection, version_id: int) -> bool:
    """retire_champion: champion → retired for this version; False if it was no longer the champion."""
    retired = conn.execute(
        versions_table.update()
        .where(versions_table.c.id == version_id, versions_table.c.status == VersionStatus.CHAMPION)
        .values(status=VersionStatus.RETIRED)
    ).rowcount
    return bool(retired == 1)


def insert_version(
    conn: Connection, *, model_name: str, version: int, status: VersionStatus, artifact_path: str, sha256: str,
    input_schema: dict[str, Any], data_fingerprint: str, metrics: dict[str, Any], lineage: dict[str, Any],
    created_at: datetime, promoted_at: datetime | None,
) -> int:
    """insert_version: record a trained version; returns its id."""
    return int(conn.execute(
        versions_table.insert().values(
            model_name=model_name, version=version, status=status, artifact_path=artifact_path, sha256=sha256,
            input_schema=input_schema, data_fingerprint=data_fingerprint, metrics=metrics, lineage=lineage,
            created_at=created_at, promoted_at=promoted_at,
        ).returning(versions_table.c.id)
    ).scalar_one())


@dataclass(frozen=True)
class StoredVersion:
    """Any version of a model, with what scoring needs to load and verify it."""

    id: int
    version: int
    status: str
    artifact_path: str
    sha256: str
    input_schema: dict[str, Any]
    serving_config: dict[str, Any] | None = None


_STORED = select(versions_table.c.id, versions_table.c.version, versions_table.c.status,
                 versions_table.c.artifact_path, versions_table.c.sha256, versions_table.c.input_schema,
                 versions_table.c.serving_config)


def version_by_number(conn: Connection, model_name: str, version: int) -> StoredVersion | None:
    """version_by_number: one version of a model by its number, or None."""
    row = conn.execute(_STORED.where(versions_table.c.model_name == model_name,
                                     versions_table.c.version == version)).first()
    return StoredVersion(*row) if row else None


def previous_champion(conn: Connection, model_name: str, current_id: int | None) -> StoredVersion | None:
    """previous_champion: the retired version that served most recently before the current champion."""
    row = conn.execute(
        _STORED.where(versions_table.c.model_name == model_name, versions_table.c.status == VersionStatus.RETIRED,
                      versions_table.c.promoted_at.is_not(None), versions_table.c.id != (current_id or -1))
        .order_by(versions_table.c.promoted_at.desc(), versions_table.c.id.desc()).limit(1)
    ).first()
    return StoredVersion(*row) if row else None


def make_champion(conn: Connection, model_name: str, version_id: int, now: datetime) -> None:
    """make_champion: retire whatever serves the model now and serve this version instead, in the caller's
    transaction (the next request in every process scores with it)."""
    conn.execute(versions_table.update().where(versions_table.c.model_name == model_name,
                                               versions_table.c.status == VersionStatus.CHAMPION)
                 .values(status=VersionStatus.RETIRED))
    conn.execute(versions_table.update().where(versions_table.c.id == version_id)
                 .values(status=VersionStatus.CHAMPION, promoted_at=now))


_SERVING = _STORED.where(versions_table.c.model_name == bindparam("model_name"),
                         versions_table.c.status.in_([VersionStatus.CHAMPION.value, VersionStatus.SHADOW.value]))


def serving_versions(conn: Connection, model_name: str) -> tuple[Champion, StoredVersion | None]:
    """serving_versions: the champion and the shadow challenger, if any, in one indexed read (every ingest);
    NoChampion if nothing serves."""
    found = [StoredVersion(*r) for r in conn.execute(_SERVING, {"model_name": model_name})]
    champ = next((v for v in found if v.status == VersionStatus.CHAMPION), None)
    if champ is None:
        raise NoChampion(f"model {model_name!r} has no champion version; run `reviewqueue models register "
                         f"{model_name}`")
    shadow = next((v for v in found if v.status == VersionStatus.SHADOW), None)
    return (Champion(champ.id, champ.version, champ.artifact_path, champ.sha256, champ.input_schema,
                     champ.serving_config), shadow)


def stop_shadow(conn: Connection, model_name: str) -> StoredVersion | None:
    """stop_shadow: the model's shadow version (if any) stops scoring: back to retired if it ever served, else
    rejected. Returns it as it was."""
    row = conn.execute(_STORED.where(versions_table.c.model_name == model_name,
                                     versions_table.c.status == VersionStatus.SHADOW)).first()
    if row is None:
        return None
    conn.execute(versions_table.update().where(versions_table.c.id == row.id).values(
        status=case((versions_table.c.promoted_at.is_(None), VersionStatus.REJECTED.value),
                    else_=VersionStatus.RETIRED.value)))
    return StoredVersion(*row)


def set_shadow(conn: Connection, model_name: str, version_id: int) -> None:
    """set_shadow: this version scores live traffic beside the champion from the next request on (any earlier
    shadow of the model stops)."""
    stop_shadow(conn, model_name)
    conn.execute(versions_table.update().where(versions_table.c.id == version_id)
                 .values(status=VersionStatus.SHADOW.value))


class ServingProfileRow(NamedTuple):
    """A version's measured serving profile and applied serving config (bench-model)."""

    id: int
    version: int
    serving_profile: dict[str, Any] | None
    serving_config: dict[str, Any] | None


def serving_profile(conn: Connection, model_name: str, version: int) -> ServingProfileRow | None:
    """serving_profile: one version's bench-model profile and applied config by its number, or None."""
    row = conn.execute(
        select(versions_table.c.id, versions_table.c.version, versions_table.c.serving_profile,
               versions_table.c.serving_config)
        .where(versions_table.c.model_name == model_name, versions_table.c.version == version)
    ).first()
    return ServingProfileRow._make(row) if row is not None else None


def set_serving_profile(conn: Connection, version_id: int, profile: dict[str, Any]) -> None:
    """set_serving_profile: store what bench-model measured for this version (replacing the last profile)."""
    conn.execute(versions_table.update().where(versions_table.c.id == version_id).values(serving_profile=profile))


def set_serving_config(conn: Connection, version_id: int, config: dict[str, Any] | None) -> None:
    """set_serving_config: the configuration serving uses for this version from the next request on (None: auto)."""
    conn.execute(versions_table.update().where(versions_table.c.id == version_id).values(serving_config=config))


class VersionFile(NamedTuple):
    """Where one version's model file is recorded (the artifact store's address) and its sha256."""

    id: int
    model_name: str
    version: int
    artifact_path: str
    sha256: str


def versions_on_local_paths(conn: Connection, database_prefix: str) -> list[VersionFile]:
    """versions_on_local_paths: every version whose artifact_path is a local path, not the database store's."""
    return [VersionFile._make(row) for row in conn.execute(
        select(versions_table.c.id, versions_table.c.model_name, versions_table.c.version,
               versions_table.c.artifact_path, versions_table.c.sha256)
        .where(~versions_table.c.artifact_path.startswith(database_prefix, autoescape=True))
        .order_by(versions_table.c.id))]


def set_artifact_path(conn: Connection, version_id: int, artifact_path: str) -> None:
    """set_artifact_path: where a version's files now live (same bytes, same sha256)."""
    conn.execute(versions_table.update().where(versions_table.c.id == version_id)
                 .values(artifact_path=artifact_path))
