from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import text

from reviewqueue.api.deps import Ctx

router = APIRouter(tags=["system"])


@router.get("/healthz")
def healthz(ctx: Ctx) -> dict[str, str]:
    """Liveness and database reachability (503 when the database is down)."""
    with ctx.engine.connect() as conn:
        conn.execute(text("SELECT 1"))
    return {"status": "ok"}
