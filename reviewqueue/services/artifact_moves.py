"""Moving versions recorded on a host's disk into the database artifact store (``reviewqueue artifacts push``).

For a deployment that switches REVIEWQUEUE_ARTIFACT_STORE from local to database: each version whose row still
records a local path is read from this host's disk, its ``model.onnx`` checked against the recorded sha256, and
every file of its folder (model, tokenizer, serving variants) stored under ``<model>/<version>/`` in the same
transaction that points its row at the store. A version whose file is missing here, or whose bytes differ from
the row, is left as it is and reported; running it again moves only what is left.
"""

from __future__ import annotations

from pathlib import Path

from reviewqueue.artifacts import MODEL_FILE, DatabaseStore
from reviewqueue.artifacts.local import DATABASE_PREFIX
from reviewqueue.db import versions as version_queries
from reviewqueue.domain.permissions import Actor
from reviewqueue.errors import ConfigurationError
from reviewqueue.services import audit
from reviewqueue.services.context import AppContext
from reviewqueue.serving.sessions import sha256_file

__all__ = ["push_local_versions"]


def push_local_versions(ctx: AppContext, actor: Actor) -> list[str]:
    """Store every local-path version this host holds in the database store; one line per version."""
    store = ctx.artifacts
    if not isinstance(store, DatabaseStore):
        raise ConfigurationError("this host uses the local artifact store: set REVIEWQUEUE_ARTIFACT_STORE=database "
                                 "to move versions into the database", field="artifact_store")
    with ctx.read() as conn:
        pending = version_queries.versions_on_local_paths(conn, DATABASE_PREFIX)
    lines = []
    for row in pending:
        where = f"{row.model_name} v{row.version}"
        path = Path(row.artifact_path)
        if not path.is_file():
            lines.append(f"{where}: left as is, {path} is not on this host")
            continue
        if sha256_file(path) != row.sha256:
            lines.append(f"{where}: left as is, {path} is corrupted (sha256 differs from the version's)")
            continue
        files = sorted(p for p in path.parent.iterdir() if p.is_file() and not p.name.startswith("."))
        with ctx.engine.begin() as conn:
            for file in files:
                store.put(f"{row.model_name}/{row.version}/{file.name}", file, conn=conn)
            version_queries.set_artifact_path(
                conn, row.id, DATABASE_PREFIX + f"{row.model_name}/{row.version}/{MODEL_FILE}")
            audit.record(ctx, conn, actor, "artifacts.push", f"model:{row.model_name}",
                         {"version": row.version, "files": [f.name for f in files]})
        lines.append(f"{where}: stored in the database ({', '.join(f.name for f in files)})")
    return lines or ["nothing to move: every version is in the database store"]
