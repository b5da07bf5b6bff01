"""Run one parameterised SQL statement against the business database.

params::

    {"statement": "UPDATE users SET banned = 1, banned_reason = :reason WHERE id = :user_id",
     "bind": {"user_id": "context.user_id", "reason": "verdict"}}

Values reach the database only as bound parameters, resolved from the payload by dotted path; nothing is
ever formatted into the SQL text. Each action runs in its own transaction.

Exactly-once is the model author's job here: the outbox may run an action again after a crash, so write
statements that are idempotent (``SET banned = 1`` is; ``SET strikes = strikes + 1`` is not, unless it is
guarded, e.g. by an ``INSERT … ON CONFLICT DO NOTHING`` keyed on the action).
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from sqlalchemy import Engine, create_engine, text
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from connectors.base import ActionContext, resolve_param
from reviewqueue.errors import ConnectorNotConfigured, PermanentDeliveryError, RetryableDeliveryError
from reviewqueue.settings import Settings

__all__ = ["SqlConnector"]

log = logging.getLogger(__name__)

# SQLite reports syntax errors and missing tables as OperationalError too; only these are worth a retry.
_SQLITE_TRANSIENT = ("locked", "busy", "unable to open", "disk i/o")


class SqlConnector:
    """Connector ``sql``: one bound statement per action on ``settings.business_db_url``."""

    name = "sql"

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._engine: Engine | None = None
        self._lock = threading.Lock()

    def deliver(self, action: ActionContext) -> dict[str, Any]:
        engine = self._db()
        statement = action.params.get("statement")
        if not isinstance(statement, str) or not statement.strip():
            raise PermanentDeliveryError("sql: params need a 'statement'")
        values = _bind_values(action)
        try:
            with engine.begin() as connection:
                result = connection.execute(text(statement), values)
                rowcount = result.rowcount
        except (OperationalError, PoolTimeout) as exc:
            if _transient(engine, exc):
                raise RetryableDeliveryError(f"sql: database unavailable: {_short(exc)}") from exc
            raise PermanentDeliveryError(f"sql: {_short(exc)}") from exc
        except SQLAlchemyError as exc:
            raise PermanentDeliveryError(f"sql: {_short(exc)}") from exc
        log.info("sql action ran", extra={"action": "sql_executed", "action_id": action.action_id})
        return {"rowcount": rowcount}

    def close(self) -> None:
        with self._lock:
            if self._engine is not None:
                self._engine.dispose()
                self._engine = None

    def _db(self) -> Engine:
        url = self._settings.business_db_url
        if not url:
            raise ConnectorNotConfigured("sql is not configured: set REVIEWQUEUE_BUSINESS_DB_URL")
        with self._lock:
            if self._engine is None:
                # pre-ping: the worker holds this engine for days; a stale pooled connection is not an error
                self._engine = create_engine(url, pool_pre_ping=True)
            return self._engine


def _bind_values(action: ActionContext) -> dict[str, Any]:
    bind = action.params.get("bind") or {}
    if not isinstance(bind, dict):
        raise PermanentDeliveryError("sql: params 'bind' must map parameter names to payload paths")
    values: dict[str, Any] = {}
    for name, path in bind.items():
        if not isinstance(path, str):
            raise PermanentDeliveryError(f"sql: bind {name!r} must be a dotted payload path")
        try:
            values[name] = resolve_param(action.payload, path)
        except KeyError:
            raise PermanentDeliveryError(f"sql: the payload has no {path!r} (bind :{name})") from None
    return values


def _transient(engine: Engine, exc: SQLAlchemyError) -> bool:
    if isinstance(exc, PoolTimeout):
        return True
    if engine.dialect.name != "sqlite":
        return (
            True  # PostgreSQL & co: OperationalError means connection loss, deadlock, serialization failure
        )
    message = str(getattr(exc, "orig", exc)).lower()
    return any(marker in message for marker in _SQLITE_TRANSIENT)


def _short(exc: SQLAlchemyError) -> str:
    """The driver's message without SQLAlchemy's multi-line statement/parameters dump (values may be PII)."""
    return str(getattr(exc, "orig", None) or exc).splitlines()[0]
