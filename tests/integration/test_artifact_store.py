"""The artifact store shared across hosts (REVIEWQUEUE_ARTIFACT_STORE=database): a version trained on host A is
served by host B, which never had its file, fetched from the database into B's own cache and verified; a row
whose bytes were tampered with is refused (nothing served, nothing stored); keys are written once; versions
recorded on a host's disk before the switch are pushed into the database store."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from reviewqueue.artifacts import DatabaseStore
from reviewqueue.db.engine import make_engine
from reviewqueue.db.tables import ArtifactChunk, ModelVersion, Prediction
from reviewqueue.domain.permissions import Actor
from reviewqueue.domain.states import Role
from reviewqueue.errors import ConfigurationError, Conflict
from reviewqueue.registry import Registry
from reviewqueue.services import ingest, training
from reviewqueue.services.artifact_moves import push_local_versions
from reviewqueue.services.context import AppContext
from tests.factories import clean, make_settings, uncertain
from tests.integration.test_training import SYSTEM, tree


@pytest.fixture
def hosts(database_url: str, tmp_path: Path, registry: Registry) -> Iterator[tuple[AppContext, AppContext]]:
    """Two hosts on one database, each with its own cache folder and nothing else in common."""
    engine = make_engine(database_url)
    clean(engine)
    a, b = (AppContext(settings=make_settings(database_url, tmp_path / name, artifact_store="database"),
                       engine=engine, registry=registry) for name in ("host-a", "host-b"))
    yield a, b
    engine.dispose()


def test_a_version_trained_on_one_host_is_served_by_another_that_never_had_it(hosts):
    a, b = hosts
    spec = dataclasses.replace(a.registry.model("fraud"), train=tree)
    result = training.train_version(a, spec, trigger="register")
    assert result.promoted and result.version == 1, result
    cached_on_b = Path(b.settings.artifact_dir) / "fraud" / "1" / "model.onnx"
    assert not cached_on_b.exists()
    [scored] = ingest.ingest(b, SYSTEM, "fraud", [uncertain(1)])
    assert scored.model_version == 1
    assert cached_on_b.is_file(), "host B fetched the file into its own cache"
    with b.engine.connect() as conn:
        stored = conn.execute(select(Prediction.version_id, Prediction.score)).one()  # type: ignore[call-overload]
    assert stored.score == pytest.approx(scored.score)
    # host A scores it identically from its cache (it never wrote a version folder of its own)
    [again] = ingest.ingest(a, SYSTEM, "fraud", [uncertain(2)])
    assert again.model_version == 1 and again.score == pytest.approx(scored.score, abs=0.05)


def test_a_tampered_row_is_refused_and_nothing_is_served_or_stored(hosts, tmp_path, registry):
    a, b = hosts
    assert training.train_version(a, dataclasses.replace(a.registry.model("fraud"), train=tree),
                                  trigger="register").promoted
    with a.engine.begin() as conn:
        conn.execute(update(ArtifactChunk).where(ArtifactChunk.key == "fraud/1/model.onnx", ArtifactChunk.seq == 0)
                     .values(content=b"not the model"))
    with pytest.raises(ConfigurationError, match=r"fraud/1/model.onnx .*is corrupted: sha256 [0-9a-f]{64} != "
                                                 r"recorded [0-9a-f]{64}; it is not served"):
        ingest.ingest(b, SYSTEM, "fraud", [uncertain(1)])
    with b.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(Prediction)).scalar_one() == 0
    assert not (Path(b.settings.artifact_dir) / "fraud" / "1" / "model.onnx").exists(), "no corrupted copy kept"


def test_files_are_chunked_written_once_and_a_bad_cache_copy_is_fetched_again(hosts, monkeypatch):
    a, b = hosts
    monkeypatch.setattr("reviewqueue.artifacts.database.CHUNK_BYTES", 1000)
    data = bytes(range(256)) * 10  # 2,560 bytes: three chunks
    stored = a.artifacts.put("shared/blob.bin", data)
    assert stored.size == 2560 and len(stored.sha256) == 64
    with a.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(ArtifactChunk)).scalar_one() == 3
    assert isinstance(b.artifacts, DatabaseStore)
    path = b.artifacts.get("shared/blob.bin", stored.sha256)
    assert path.read_bytes() == data
    path.write_bytes(b"changed on disk")  # a damaged cache copy is not trusted: fetched again, verified
    assert b.artifacts.get("shared/blob.bin").read_bytes() == data
    with pytest.raises(Conflict, match="already stored; artifacts are never written over"):
        a.artifacts.put("shared/blob.bin", b"other bytes")
    with pytest.raises(ConfigurationError, match="is corrupted"):
        b.artifacts.get("shared/blob.bin", "0" * 64)


def test_versions_on_a_hosts_disk_move_into_the_database_store(hosts, database_url, tmp_path, registry):
    """Switching a deployment to the database store: `reviewqueue artifacts push` on the host that has the files."""
    a, b = hosts
    before = AppContext(settings=make_settings(database_url, tmp_path / "host-a"), engine=a.engine,
                        registry=registry)  # host A, before the switch: the local store, same folder
    assert before.artifacts.backend == "local"
    assert training.train_version(before, dataclasses.replace(registry.model("fraud"), train=tree),
                                  trigger="register").promoted
    with pytest.raises(ConfigurationError, match="on another host's disk .* not in the database artifact store"):
        b.artifacts.version_file(str(tmp_path / "host-c" / "fraud" / "1" / "model.onnx"), "0" * 64)
    admin = Actor(0, "cli:ops", Role.ADMIN, ())
    assert push_local_versions(a, admin) == ["fraud v1: stored in the database (model.onnx)"]
    with a.engine.connect() as conn:
        assert conn.execute(select(ModelVersion.artifact_path)).scalar_one() == "database:fraud/1/model.onnx"
    [scored] = ingest.ingest(b, SYSTEM, "fraud", [uncertain(1)])
    assert scored.model_version == 1 and (Path(b.settings.artifact_dir) / "fraud" / "1" / "model.onnx").is_file()
    assert push_local_versions(a, admin) == ["nothing to move: every version is in the database store"]
    with pytest.raises(ConfigurationError, match="set REVIEWQUEUE_ARTIFACT_STORE=database") as local_host:
        push_local_versions(before, admin)
    assert local_host.value.field == "artifact_store"


def test_artifacts_push_from_the_cli(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from reviewqueue.cli import app

    monkeypatch.setenv("REVIEWQUEUE_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.setenv("REVIEWQUEUE_ARTIFACT_DIR", str(tmp_path / "artifacts"))
    runner = CliRunner()
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    local = runner.invoke(app, ["artifacts", "push"])
    assert local.exit_code == 1 and "set REVIEWQUEUE_ARTIFACT_STORE=database" in local.output
    monkeypatch.setenv("REVIEWQUEUE_ARTIFACT_STORE", "database")
    database = runner.invoke(app, ["artifacts", "push"])
    assert database.exit_code == 0 and "nothing to move" in database.output, database.output
