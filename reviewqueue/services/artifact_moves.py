"""Moving versions recorded on a host's disk into the database artifact store (``reviewqueue artifacts push``),
and mending a stored version whose bytes no longer match their sha256 (``reviewqueue artifacts restore``).

For a deployment that switches REVIEWQUEUE_ARTIFACT_STORE from local to database: each version whose row still
records a local path is read from this host's disk, its ``model.onnx`` checked against the recorded sha256 (and
each companion file whose sha256 the version records: a bench-model variant in its serving config or profile, a
text model's tokenizer in its input schema), and every file of its folder (model, tokenizer, serving variants)
stored under ``<model>/<version>/`` in the same transaction that points its row at the store. A version whose file
is missing here, or whose bytes differ from the row's record, is left as it is and reported; running it again
moves only what is left.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import Connection

from reviewqueue.artifacts import MODEL_FILE, DatabaseStore
from reviewqueue.artifacts.local import DATABASE_PREFIX
from reviewqueue.db import artifacts as artifact_queries
from reviewqueue.db import versions as version_queries
from reviewqueue.domain.permissions import Actor
from reviewqueue.errors import ConfigurationError, NotFound
from reviewqueue.services import audit
from reviewqueue.services.context import AppContext
from reviewqueue.serving.sessions import sha256_file

__all__ = ["PushReport", "push_local_versions", "restore_version"]

TOKENIZER_FILE = "tokenizer.json"  # a text model's tokenizer; its input schema records tokenizer_sha256


@dataclass(frozen=True)
class PushReport:
    """What a push did: one line per version, and how many versions it left behind (the CLI's exit status)."""

    lines: list[str]
    left_behind: int


@dataclass(frozen=True)
class Companion:
    """A file beside ``model.onnx`` whose sha256 the version records, and which record says so."""

    name: str
    sha256: str
    recorded_in: str


def push_local_versions(ctx: AppContext, actor: Actor) -> PushReport:
    """Store every local-path version this host holds in the database store; one line per version."""
    store = ctx.artifacts
    if not isinstance(store, DatabaseStore):
        raise ConfigurationError("this host uses the local artifact store: set REVIEWQUEUE_ARTIFACT_STORE=database "
                                 "to move versions into the database", field="artifact_store")
    with ctx.read() as conn:
        pending = [(row, _companions(conn, row))
                   for row in version_queries.versions_on_local_paths(conn, DATABASE_PREFIX)]
    lines, left_behind = [], 0
    for row, recorded in pending:
        where = f"{row.model_name} v{row.version}"
        problem = _unmovable(Path(row.artifact_path), row.sha256, recorded)
        if problem is not None:
            lines.append(f"{where}: left as is, {problem}")
            left_behind += 1
            continue
        stored = _store_version(ctx, store, actor, row)
        lines.append(f"{where}: stored in the database ({', '.join(stored)})")
    return PushReport(lines or ["nothing to move: every version is in the database store"], left_behind)


def _companions(conn: Connection, row: version_queries.VersionFile) -> list[Companion]:
    """The companion files whose sha256 the version records: what serves or may serve (the applied serving config,
    the measured profile's variants) and the tokenizer a text model's input schema names."""
    found: dict[tuple[str, str], str] = {}  # (file, sha256) → the first record naming it
    profile = version_queries.serving_profile(conn, row.model_name, row.version)
    if profile is not None:
        measured = (profile.serving_profile or {}).get("variants") or []
        for config, recorded_in in [(profile.serving_config, "serving config"),
                                    *((variant, "serving profile") for variant in measured)]:
            if config and config.get("model_file") and config.get("sha256"):
                found.setdefault((str(config["model_file"]), str(config["sha256"])), recorded_in)
    version = version_queries.version_by_number(conn, row.model_name, row.version)
    tokenizer = (version.input_schema or {}).get("tokenizer_sha256") if version is not None else None
    if tokenizer:
        found.setdefault((TOKENIZER_FILE, str(tokenizer)), "input schema")
    return [Companion(name, sha256, recorded_in) for (name, sha256), recorded_in in found.items()
            if name != MODEL_FILE]  # the version's own file: checked against the row's sha256


def _unmovable(path: Path, sha256: str, recorded: list[Companion]) -> str | None:
    """Why the version's folder cannot be stored as it is (None: it can): a missing or corrupted model file, or a
    companion whose bytes differ from its record (stored, it would be every host's copy, refused on every one)."""
    if not path.is_file():
        return f"{path} is not on this host"
    if sha256_file(path) != sha256:
        return f"{path} is corrupted (sha256 differs from the version's)"
    for companion in recorded:
        file = path.parent / companion.name
        if file.is_file() and sha256_file(file) != companion.sha256:  # an absent variant: hosts serve model.onnx
            return f"{file} is corrupted (sha256 differs from the one its {companion.recorded_in} records)"
    return None


def _store_version(ctx: AppContext, store: DatabaseStore, actor: Actor, row: version_queries.VersionFile
                   ) -> list[str]:
    """Every file of the version's folder into the store, its row pointed at it, in one transaction; their names."""
    folder = Path(row.artifact_path).parent
    files = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
    with ctx.engine.begin() as conn:
        for file in files:
            store.put(f"{row.model_name}/{row.version}/{file.name}", file, conn=conn)
        version_queries.set_artifact_path(
            conn, row.id, DATABASE_PREFIX + f"{row.model_name}/{row.version}/{MODEL_FILE}")
        audit.record(ctx, conn, actor, "artifacts.push", f"model:{row.model_name}",
                     {"version": row.version, "files": [f.name for f in files]})
    return [f.name for f in files]


def restore_version(ctx: AppContext, actor: Actor, model_name: str, version: int, folder: Path) -> PushReport:
    """Mend a version whose files in the database store no longer match their sha256 (a damaged row, a bad
    restore of the database): each corrupted file is written back from ``folder`` when a file of the same name
    there has exactly the recorded sha256 (a host's cache copy, a backup); sound files are left alone. One line
    per file; ``left_behind`` counts files still corrupted."""
    store = ctx.artifacts
    if not isinstance(store, DatabaseStore):
        raise ConfigurationError("this host uses the local artifact store: nothing is stored in the database to "
                                 "restore", field="artifact_store")
    with ctx.read() as conn:
        stored = version_queries.version_by_number(conn, model_name, version)
        if stored is None:
            raise NotFound(f"model {model_name!r} has no version {version}", field="version")
        rows = artifact_queries.artifacts_under(conn, f"{model_name}/{version}/")
    if not stored.artifact_path.startswith(DATABASE_PREFIX) or not rows:
        raise ConfigurationError(f"{model_name} v{version} is not in the database store (run `reviewqueue "
                                 "artifacts push` on the host that has its files)", field="version")
    lines, left = [], 0
    for row in rows:
        if store.is_sound(row):
            lines.append(f"{row.key}: sound")
            continue
        copy = folder / row.key.rpartition("/")[2]
        if not copy.is_file() or sha256_file(copy) != row.sha256:
            why = "not there" if not copy.is_file() else "another file"
            lines.append(f"{row.key}: still corrupted: {copy} is {why} (the recorded sha256 is {row.sha256[:12]}…)")
            left += 1
            continue
        with ctx.engine.begin() as conn:
            store.restore(conn, row, copy.read_bytes())
            audit.record(ctx, conn, actor, "artifacts.restore", f"model:{model_name}",
                         {"version": version, "file": row.key, "from": str(copy)})
        lines.append(f"{row.key}: restored from {copy}")
    return PushReport(lines, left)
