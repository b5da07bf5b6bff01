"""Model versions: the champion lookup that serving uses, and the listing the UI shows.

The statements live in ``reviewqueue.db.versions``; these names stay importable here for ingest, routes and cli.
"""

from __future__ import annotations

from reviewqueue.db.versions import Champion, champion, find_champion, list_versions
from reviewqueue.schemas import VersionOut
from reviewqueue.services.context import AppContext

__all__ = ["Champion", "champion", "find_champion", "model_versions"]


def model_versions(ctx: AppContext, model_name: str) -> list[VersionOut]:
    """Every version of a registered model, newest first (NotFound for an unknown model)."""
    ctx.registry.model(model_name)
    with ctx.read() as conn:
        return list_versions(conn, model_name)
