"""Training runs: one row per retraining attempt, from start to promoted / rejected / failed."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from reviewqueue.db.tables import runs_table
from reviewqueue.domain.states import RunStatus
from reviewqueue.schemas import RunOut

__all__ = ["abandon_runs", "fail_run", "find_run", "finish_run", "get_run", "insert_run", "last_used_label_id",
           "list_runs", "run_max_label_id", "set_progress"]


def insert_run(
    conn: Connection, *, model_name: str, trigger: str, label_ids: list[int], max_label_id: int,
    champion_version_id: int | None, started_at: datetime,
) -> int:
    """insert_run: a run starts (status running) with exactly the labels it will use; returns its id."""
    return int(conn.execute(
        runs_table.insert().values(
            model_name=model_name, trigger=trigger, status=RunStatus.RUNNING, label_ids=label_ids,
            n_labels=len(label_ids), max_label_id=max_label_id, champion_version_id=champion_version_id,
            champion_metrics={}, candidate_metrics={}, started_at=started_at, stage="starting", progress=0.0,
        ).returning(runs_table.c.id)
    ).scalar_one())


def finish_run(
    conn: Connection, run_id: int, *, status: RunStatus, candidate_version_id: int,
    candidate_metrics: dict[str, Any], champion_metrics: dict[str, Any], finished_at: datetime,
    duration_seconds: float, decision: str = "", warnings: list[str] | None = None,
) -> None:
    """finish_run: a run ends promoted or rejected, with its candidate version, both models' metrics, the
    decision in words (≤ 2000 characters) and the fit's warnings."""
    conn.execute(runs_table.update().where(runs_table.c.id == run_id).values(
        status=status, candidate_version_id=candidate_version_id, candidate_metrics=candidate_metrics,
        champion_metrics=champion_metrics, finished_at=finished_at, duration_seconds=duration_seconds,
        decision=decision[:2000], warnings=list(warnings or []), stage="done", progress=1.0,
    ))


def fail_run(conn: Connection, run_id: int, *, error: str, finished_at: datetime, duration_seconds: float) -> None:
    """fail_run: a run ends failed with its error (at most 4000 characters kept)."""
    conn.execute(runs_table.update().where(runs_table.c.id == run_id).values(
        status=RunStatus.FAILED, error=error[:4000], finished_at=finished_at, duration_seconds=duration_seconds,
        stage="failed",
    ))


def abandon_runs(conn: Connection, model_name: str, *, keep: int | None, error: str, finished_at: datetime) -> int:
    """abandon_runs: a model's runs still marked running, but for ``keep``, end failed with ``error`` (their
    process stopped before it finished: the caller holds the model's retrain lease, so none of them runs)."""
    query = runs_table.update().where(runs_table.c.model_name == model_name, runs_table.c.status == RunStatus.RUNNING)
    if keep is not None:
        query = query.where(runs_table.c.id != keep)
    return int(conn.execute(query.values(status=RunStatus.FAILED, error=error[:4000], finished_at=finished_at,
                                         stage="failed")).rowcount)


def set_progress(conn: Connection, run_id: int, stage: str, fraction: float) -> None:
    """set_progress: a running run's current stage (≤ 64 characters) and fraction done, clamped to 0..1."""
    conn.execute(runs_table.update().where(runs_table.c.id == run_id, runs_table.c.status == RunStatus.RUNNING)
                 .values(stage=stage[:64], progress=min(1.0, max(0.0, float(fraction)))))


def run_max_label_id(conn: Connection, run_id: int) -> int | None:
    """run_max_label_id: the newest label id a run trained on (its cutoff), or None if no such run."""
    value = conn.execute(select(runs_table.c.max_label_id).where(runs_table.c.id == run_id)).scalar_one_or_none()
    return None if value is None else int(value)


def last_used_label_id(conn: Connection, model_name: str) -> int:
    """last_used_label_id: the newest label id any run that did not fail used (0 if none)."""
    return int(conn.execute(
        select(func.coalesce(func.max(runs_table.c.max_label_id), 0))
        .where(runs_table.c.model_name == model_name, runs_table.c.status != RunStatus.FAILED)
    ).scalar_one())


_RUN_COLUMNS = (runs_table.c.id, runs_table.c.trigger, runs_table.c.status, runs_table.c.n_labels,
                runs_table.c.candidate_version_id, runs_table.c.champion_version_id, runs_table.c.candidate_metrics,
                runs_table.c.champion_metrics, runs_table.c.error, runs_table.c.started_at, runs_table.c.finished_at,
                runs_table.c.duration_seconds, runs_table.c.decision, runs_table.c.warnings, runs_table.c.stage,
                runs_table.c.progress, runs_table.c.model_name)


def list_runs(conn: Connection, model_name: str, limit: int = 50) -> list[RunOut]:
    """list_runs: a model's runs, newest first."""
    rows = conn.execute(select(*_RUN_COLUMNS).where(runs_table.c.model_name == model_name)
                        .order_by(runs_table.c.id.desc()).limit(limit)).all()
    return [RunOut.model_validate(r) for r in rows]


def get_run(conn: Connection, run_id: int) -> RunOut:
    """get_run: one run as the API shows it (the run must exist)."""
    return RunOut.model_validate(conn.execute(select(*_RUN_COLUMNS).where(runs_table.c.id == run_id)).one())


def find_run(conn: Connection, model_name: str, run_id: int) -> RunOut | None:
    """find_run: one run of this model as the API shows it, or None (no such run, or another model's)."""
    row = conn.execute(select(*_RUN_COLUMNS).where(runs_table.c.id == run_id,
                                                   runs_table.c.model_name == model_name)).first()
    return RunOut.model_validate(row) if row is not None else None
