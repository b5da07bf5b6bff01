"""What stops a `reviewqueue` command, said in one line with the fix instead of a 20-line traceback.

The command line's root group (``OneLineErrors``) runs every command; what it recognises it prints as
``error: <what is wrong>: <what to do>`` on stderr and exits 2 for a usage or configuration error (a bad setting,
a model module that does not import, an unknown model, bad input) or 1 for anything else (a database without
its schema or out of reach, a conflict with what is stored). Anything else is a bug and keeps its traceback;
``reviewqueue --debug …`` shows the traceback of every error.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import typer
from pydantic import ValidationError
from pydantic_settings import SettingsError
from sqlalchemy.exc import DBAPIError
from typer.core import TyperGroup

from reviewqueue.errors import AlreadyRegistered, ConfigurationError, NotFound, ReviewQueueError, ValidationFailed

__all__ = ["DEBUG_KEY", "OneLineErrors", "Problem", "explain"]

DEBUG_KEY = "reviewqueue.debug"  # ctx.meta flag set by the root --debug option
USAGE = 2  # the command line or the configuration is wrong: fix what you typed or set
FAILED = 1  # the command was fine; the state it met was not

# SQLSTATE / SQLite messages of a schema that is missing or behind the code
MISSING_TABLE = ("42P01", "no such table")
MISSING_COLUMN = ("42703", "no such column", "has no column named")


@dataclass(frozen=True)
class Problem:
    message: str
    exit_code: int


def explain(exc: BaseException) -> Problem | None:
    """The one line (and exit status) for an error an operator can fix; None for a bug (keep its traceback)."""
    if isinstance(exc, ValidationError) and exc.title == "Settings":
        return Problem("; ".join(_setting_error(e) for e in exc.errors()), USAGE)
    if isinstance(exc, SettingsError):
        return Problem(f"{exc} (REVIEWQUEUE_<FIELD> variables: see `reviewqueue/settings.py`)", USAGE)
    if isinstance(exc, DBAPIError):
        return _database_problem(exc)
    if isinstance(exc, NotFound) and exc.field == "model":
        return Problem(f"{exc.message}; {_registered_models()}", USAGE)
    if isinstance(exc, ConfigurationError | AlreadyRegistered | ValidationFailed | NotFound):
        return Problem(exc.message, USAGE)
    if isinstance(exc, ReviewQueueError):  # a conflict with what is stored, a failed step …
        return Problem(exc.message, FAILED)
    return None


def _setting_error(error: object) -> str:
    from reviewqueue.settings import setting_variable

    details = dict(error)  # type: ignore[call-overload]
    message = str(details["msg"]).removeprefix("Value error, ")
    if not details["loc"]:  # a check across settings: its message names them
        return message
    # the location is a field name, or for a field with aliases its first alias (already prefixed)
    variable = setting_variable(str(details["loc"][0]))
    value = details.get("input")
    shown = f" (got {value!r})" if isinstance(value, str | int | float) and len(repr(value)) <= 80 else ""
    return f"{variable}: {message}{shown}"


def _database_problem(exc: DBAPIError) -> Problem:
    original = exc.orig
    code = str(getattr(original, "sqlstate", "") or "")
    text = str(original).strip().splitlines()[0] if str(original).strip() else type(original).__name__
    where = _database_url()
    if code in MISSING_TABLE or any(m in text for m in MISSING_TABLE[1:]) or (
            "relation" in text and "does not exist" in text):
        return Problem(f"the database has no schema yet ({text}): run `reviewqueue db upgrade`{where}", FAILED)
    if code in MISSING_COLUMN or any(m in text for m in MISSING_COLUMN[1:]):
        return Problem(f"the database schema is older than this reviewqueue ({text}): run "
                       f"`reviewqueue db upgrade`{where}", FAILED)
    return Problem(f"the database cannot be used: {text}{where} (REVIEWQUEUE_DATABASE_URL)", FAILED)


def _database_url() -> str:
    """' (database: …)' with the password hidden, or '' when the settings themselves are broken."""
    from sqlalchemy.engine import make_url

    from reviewqueue.settings import Settings

    try:
        return f" (database: {make_url(Settings().database_url).render_as_string(hide_password=True)})"
    except Exception:  # noqa: BLE001 - a hint only; the error itself is already said
        return ""


def _registered_models() -> str:
    """Which models this configuration registers, and where that list comes from."""
    from reviewqueue.registry import Registry
    from reviewqueue.settings import Settings

    try:
        modules = Settings().model_modules
        registry = Registry()
        registry.load_modules(modules)  # already imported by the command: no second import cost
        names = ", ".join(spec.name for spec in registry.models()) or "none"
    except Exception:  # noqa: BLE001 - a hint only
        return "add its module to REVIEWQUEUE_MODEL_MODULES"
    return (f"registered: {names} (from REVIEWQUEUE_MODEL_MODULES={','.join(modules)}; add the model's module "
            f"there, e.g. models.fraud,models.loan)")


class OneLineErrors(TyperGroup):
    """The root command group: every command runs inside its invoke(), so its errors come through here."""

    def invoke(self, ctx: Any) -> Any:  # typer's vendored click Context (private module): typed loosely
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort, typer.TyperException):
            raise  # typer's own (its vendored click's): already a message and a status
        except Exception as exc:
            problem = None if ctx.meta.get(DEBUG_KEY) else explain(exc)
            if problem is None:
                raise
            typer.echo(f"error: {problem.message}", err=True)
            raise typer.Exit(problem.exit_code) from None
