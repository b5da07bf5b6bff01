"""Request dependencies: the app context and the authenticated actor."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from reviewqueue.services import auth
from reviewqueue.services.context import AppContext

bearer = HTTPBearer(auto_error=False, description="An API token (rq_…) or a sign-in token.")


async def get_ctx(request: Request) -> AppContext:
    """Async on purpose (no I/O): a sync dependency costs a worker-thread hop per request."""
    ctx: AppContext = request.app.state.ctx
    return ctx


async def get_actor(
    ctx: Annotated[AppContext, Depends(get_ctx)],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> auth.Actor:
    """A token seen in the last seconds is answered on the event loop (services.auth.cached_actor); a miss
    reads the database on a worker thread, as every sync dependency would."""
    token = credentials.credentials if credentials else None
    actor = auth.cached_actor(ctx, token)
    return actor if actor is not None else await run_in_threadpool(auth.authenticate, ctx, token)


Ctx = Annotated[AppContext, Depends(get_ctx)]
CurrentActor = Annotated[auth.Actor, Depends(get_actor)]

# Ids are 32-bit INTEGER columns on PostgreSQL: refuse larger values at the edge (422), not in the database.
MAX_DB_INT = 2**31 - 1
DbId = Annotated[int, Path(ge=1, le=MAX_DB_INT)]
OptionalDbIdQuery = Annotated[int | None, Query(ge=1, le=MAX_DB_INT)]
