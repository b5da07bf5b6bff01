"""Model versions: the champion lookup that serving uses, and the listing the UI shows.

The statements live in ``reviewqueue.db.versions``; these names stay importable here for ingest, routes and cli.
"""

from __future__ import annotations

from reviewqueue.db.versions import Champion, VersionRow, champion, find_champion, list_versions

__all__ = ["Champion", "VersionRow", "champion", "find_champion", "list_versions"]
