"""Domain errors → HTTP, in one table. Every error body is {"error": {"type", "message", "field"}}."""

from __future__ import annotations

import logging
import re
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError, DBAPIError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from reviewqueue import errors
from reviewqueue.logs import error_fields

log = logging.getLogger(__name__)

STATUS_BY_ERROR: list[tuple[type[errors.ReviewQueueError], int]] = [
    # most specific first
    (errors.BatchTooLarge, 413),
    (errors.ValidationFailed, 422),
    (errors.SignatureInvalid, 400),
    (errors.Unauthorized, 401),
    (errors.Forbidden, 403),
    (errors.NotFound, 404),
    (errors.TooManyRequests, 429),
    (errors.NoChampion, 409),
    (errors.Conflict, 409),
    (errors.ConfigurationError, 503),
]


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def error_response(status: int, kind: str, message: str, field: str | None = None,
                   headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": {"type": kind, "message": message, "field": field}}, status_code=status,
                        headers=headers)


def _loc_to_field(loc: tuple[Any, ...]) -> str:
    parts = [p for p in loc if p not in ("body", "query", "path", "header")]
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "body"


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(errors.ReviewQueueError)
    async def _domain(_: Request, exc: errors.ReviewQueueError) -> JSONResponse:
        status = next((code for cls, code in STATUS_BY_ERROR if isinstance(exc, cls)), 500)
        headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
        if isinstance(exc, errors.TooManyRequests):
            headers = {"Retry-After": str(exc.retry_after)}
        return error_response(status, _snake(type(exc).__name__), exc.message, exc.field, headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {"loc": ("body",), "msg": "invalid", "type": "invalid"}
        field = _loc_to_field(tuple(first.get("loc", ("body",))))
        if first.get("type") == "json_invalid":
            return error_response(400, "malformed_json", f"body: malformed JSON ({first.get('msg')})", "body")
        return error_response(422, "validation_failed", f"{field}: {first.get('msg')}", field)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400:  # FastAPI could not decode the body at all (e.g. bytes that are not UTF-8)
            return error_response(400, "malformed_body", f"body: not valid UTF-8 JSON ({exc.detail})", "body")
        return error_response(exc.status_code, "http_error", str(exc.detail))

    @app.exception_handler(OperationalError)
    async def _db_down(_: Request, exc: OperationalError) -> JSONResponse:
        log.error("database unavailable", extra={"action": "db_unavailable", **error_fields(exc)})
        return error_response(503, "database_unavailable", "the database is unavailable; try again shortly",
                              headers={"Retry-After": "2"})

    @app.exception_handler(DataError)
    async def _bad_value(_: Request, exc: DataError) -> JSONResponse:
        # a value the database cannot store (e.g. a NUL character in text): the client's input, not our fault
        return error_response(422, "invalid_value", "a value cannot be stored (for example a NUL character in text)")

    @app.exception_handler(DBAPIError)
    async def _db_error(_: Request, exc: DBAPIError) -> JSONResponse:
        if exc.connection_invalidated:
            return error_response(503, "database_unavailable", "the database connection was lost; try again",
                                  headers={"Retry-After": "2"})
        log.exception("database error", extra={"action": "db_error"})
        return error_response(500, "internal_error", "internal error")
