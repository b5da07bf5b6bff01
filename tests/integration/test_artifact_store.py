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
from reviewqueue.db.tables import versions_table as versions
from reviewqueue.domain.permissions import Actor
from reviewqueue.domain.states import Role
from reviewqueue.errors import ConfigurationError, Conflict
from reviewqueue.registry import Registry
from reviewqueue.services import ingest, training
from reviewqueue.services.artifact_moves import PushReport, push_local_versions
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


def _tampered_version_1(host) -> None:
    """fraud v1 trained and stored through ``host``, then its first stored chunk overwritten in the database."""
    assert training.train_version(host, dataclasses.replace(host.registry.model("fraud"), train=tree),
                                  trigger="register").promoted
    with host.engine.begin() as conn:
        conn.execute(update(ArtifactChunk).where(ArtifactChunk.key == "fraud/1/model.onnx", ArtifactChunk.seq == 0)
                     .values(content=b"not the model"))


def test_a_tampered_row_is_refused_and_nothing_is_served_or_stored(hosts, tmp_path, registry):
    a, b = hosts
    _tampered_version_1(a)
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
    assert push_local_versions(a, admin) == PushReport(["fraud v1: stored in the database (model.onnx)"], 0)
    with a.engine.connect() as conn:
        assert conn.execute(select(ModelVersion.artifact_path)).scalar_one() == "database:fraud/1/model.onnx"
    [scored] = ingest.ingest(b, SYSTEM, "fraud", [uncertain(1)])
    assert scored.model_version == 1 and (Path(b.settings.artifact_dir) / "fraud" / "1" / "model.onnx").is_file()
    assert push_local_versions(a, admin) == PushReport(["nothing to move: every version is in the database store"], 0)
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


# ---- `artifacts push`: what is left behind, and companion files checked against their records ------------------

@pytest.fixture
def local_host(hosts, database_url, tmp_path, registry) -> AppContext:
    """Host A before the switch: the local store, in the folder host A's database-store context caches into."""
    return AppContext(settings=make_settings(database_url, tmp_path / "host-a"), engine=hosts[0].engine,
                      registry=registry)


def _train(ctx: AppContext) -> Path:
    """A new fraud version on ``ctx``'s store; the path its row records."""
    result = training.train_version(ctx, dataclasses.replace(ctx.registry.model("fraud"), train=tree),
                                    trigger="register")
    with ctx.engine.connect() as conn:
        return Path(conn.execute(select(versions.c.artifact_path).where(versions.c.version == result.version))
                    .scalar_one())


def _stored_paths(ctx: AppContext) -> dict[int, str]:
    with ctx.engine.connect() as conn:
        return {row.version: row.artifact_path
                for row in conn.execute(select(versions.c.version, versions.c.artifact_path))}


def _push(ctx: AppContext, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """`reviewqueue artifacts push` on host A after the switch."""
    from typer.testing import CliRunner

    from reviewqueue.cli import app

    monkeypatch.setenv("REVIEWQUEUE_DATABASE_URL", ctx.settings.database_url)
    monkeypatch.setenv("REVIEWQUEUE_ARTIFACT_DIR", str(ctx.settings.artifact_dir))
    monkeypatch.setenv("REVIEWQUEUE_ARTIFACT_STORE", "database")
    return CliRunner().invoke(app, ["artifacts", "push"])


def test_push_exits_1_after_every_line_when_a_version_is_left_behind(hosts, local_host, monkeypatch):
    first, second = _train(local_host), _train(local_host)
    good = first.read_bytes()
    first.write_bytes(b"damaged on this disk")
    result = _push(local_host, monkeypatch)
    assert result.exit_code == 1, result.output
    assert result.stdout.splitlines() == [
        f"fraud v1: left as is, {first} is corrupted (sha256 differs from the version's)",
        "fraud v2: stored in the database (model.onnx)"]
    assert _stored_paths(local_host) == {1: str(first), 2: "database:fraud/2/model.onnx"}
    first.unlink()
    missing = _push(local_host, monkeypatch)
    assert missing.exit_code == 1 and missing.stdout == f"fraud v1: left as is, {first} is not on this host\n"
    first.write_bytes(good)  # restored: everything moves, then nothing is left to move
    restored = _push(local_host, monkeypatch)
    assert (restored.exit_code, restored.stdout) == (0, "fraud v1: stored in the database (model.onnx)\n")
    again = _push(local_host, monkeypatch)
    assert (again.exit_code, again.stdout) == (0, "nothing to move: every version is in the database store\n")
    assert second.is_file() and _stored_paths(local_host) == {1: "database:fraud/1/model.onnx",
                                                              2: "database:fraud/2/model.onnx"}


def _record_int8(ctx: AppContext, model_file: Path, data: bytes) -> str:
    """As `bench-model --apply` leaves it: the int8 variant beside the model, its sha256 in the serving config."""
    from reviewqueue.artifacts.base import sha256_bytes
    from reviewqueue.serving.providers import ServingConfig

    (model_file.parent / "model.int8.onnx").write_bytes(data)
    config = ServingConfig("cpu-int8-1t", "model.int8.onnx", sha256_bytes(data), ("CPUExecutionProvider",), 1)
    with ctx.engine.begin() as conn:
        conn.execute(update(versions).values(serving_config=config.to_json()))
    return "serving config"


def _record_tokenizer(ctx: AppContext, model_file: Path, data: bytes) -> str:
    """As a text model's registration leaves it: tokenizer.json beside the model, its sha256 in the input schema."""
    from reviewqueue.artifacts.base import sha256_bytes

    (model_file.parent / "tokenizer.json").write_bytes(data)
    with ctx.engine.begin() as conn:
        schema = conn.execute(select(versions.c.input_schema)).scalar_one()
        conn.execute(update(versions).values(input_schema={**schema, "tokenizer_sha256": sha256_bytes(data)}))
    return "input schema"


@pytest.mark.parametrize("record", [_record_int8, _record_tokenizer])
def test_push_leaves_a_version_whose_companion_differs_from_its_record(hosts, local_host, record):
    a, b = hosts
    model_file = _train(local_host)
    companion_bytes = b"the companion as recorded"
    recorded_in = record(local_host, model_file, companion_bytes)
    companion = next(p for p in model_file.parent.iterdir() if p.name != "model.onnx")
    companion.write_bytes(b"the companion, corrupted")
    admin = Actor(0, "cli:ops", Role.ADMIN, ())
    assert push_local_versions(a, admin) == PushReport(
        [f"fraud v1: left as is, {companion} is corrupted (sha256 differs from the one its {recorded_in} "
         "records)"], 1)
    assert _stored_paths(a) == {1: str(model_file)}
    with a.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(ArtifactChunk)).scalar_one() == 0, "nothing stored"
    companion.write_bytes(companion_bytes)
    assert push_local_versions(a, admin) == PushReport(
        [f"fraud v1: stored in the database ({', '.join(sorted(['model.onnx', companion.name]))})"], 0)
    assert b.artifacts.get(f"fraud/1/{companion.name}").read_bytes() == companion_bytes


# ---- fetching: nothing left behind on failure, and what the servers' logs say ----------------------------------

def test_a_failed_fetch_leaves_no_temporary_file(hosts, monkeypatch):
    from sqlalchemy.exc import OperationalError

    a, b = hosts
    stored = a.artifacts.put("shared/blob.bin", b"x" * 3000)

    def failing_read(conn, key, n_chunks):  # type: ignore[no-untyped-def]
        yield b"x" * 1000
        raise OperationalError("SELECT content FROM artifact_chunks", {}, Exception("disk I/O error"))

    monkeypatch.setattr("reviewqueue.artifacts.database.queries.chunk_contents", failing_read)
    with pytest.raises(OperationalError, match="disk I/O error"):
        b.artifacts.get("shared/blob.bin", stored.sha256)
    folder = Path(b.settings.artifact_dir) / "shared"
    assert folder.is_dir() and list(folder.iterdir()) == [], "no .fetch-* file and no partial copy"


def test_a_refetched_cache_copy_is_logged(hosts, caplog):
    a, b = hosts
    stored = a.artifacts.put("shared/blob.bin", b"the stored bytes")
    path = b.artifacts.get("shared/blob.bin", stored.sha256)
    path.write_bytes(b"changed on disk")
    with caplog.at_level("INFO", logger="reviewqueue.artifacts"):
        assert b.artifacts.get("shared/blob.bin").read_bytes() == b"the stored bytes"
    [record] = [r for r in caplog.records if getattr(r, "action", None) == "artifact_refetched"]
    assert record.levelname == "WARNING" and record.key == "shared/blob.bin" and record.path == str(path)
    assert record.recorded_sha256 == stored.sha256 and record.sha256 != stored.sha256
    caplog.clear()
    with caplog.at_level("INFO", logger="reviewqueue.artifacts"):
        b.artifacts.get("shared/blob.bin")  # a sound cache copy: used as it is, nothing logged
    assert not [r for r in caplog.records if getattr(r, "action", None) == "artifact_refetched"]


def test_a_refused_stored_copy_is_logged(hosts, caplog):
    a, b = hosts
    _tampered_version_1(a)
    with caplog.at_level("INFO", logger="reviewqueue.artifacts"), pytest.raises(ConfigurationError,
                                                                                 match="is corrupted"):
        ingest.ingest(b, SYSTEM, "fraud", [uncertain(1)])
    [record] = [r for r in caplog.records if getattr(r, "action", None) == "artifact_corrupted"]
    assert record.levelname == "ERROR" and record.key == "fraud/1/model.onnx"
    assert record.where == "fraud/1/model.onnx (fetched from the database)"
    assert record.sha256 != record.recorded_sha256


def test_a_corrupted_stored_version_is_restored_from_a_good_copy(hosts, tmp_path):
    """`reviewqueue artifacts restore`: host B refuses a version whose stored bytes were damaged; a copy with the
    recorded sha256 (host A's cache) mends it, a copy without it mends nothing, and B serves again."""
    from reviewqueue.db import artifacts as artifact_queries
    from reviewqueue.db.tables import AuditEntry
    from reviewqueue.services.artifact_moves import restore_version

    a, b = hosts
    assert training.train_version(a, dataclasses.replace(a.registry.model("fraud"), train=tree),
                                  trigger="register").promoted
    ingest.ingest(a, SYSTEM, "fraud", [uncertain(1)])  # host A now caches a good copy
    good = Path(a.settings.artifact_dir) / "fraud" / "1"
    with a.engine.begin() as conn:
        conn.execute(update(ArtifactChunk).where(ArtifactChunk.key == "fraud/1/model.onnx", ArtifactChunk.seq == 0)
                     .values(content=b"not the model"))
    with pytest.raises(ConfigurationError, match="reviewqueue artifacts restore MODEL VERSION --from FOLDER"):
        ingest.ingest(b, SYSTEM, "fraud", [uncertain(2)])
    admin = Actor(0, "cli:ops", Role.ADMIN, ())

    wrong = tmp_path / "wrong"
    wrong.mkdir()
    (wrong / "model.onnx").write_bytes(b"some other model")
    report = restore_version(b, admin, "fraud", 1, wrong)
    assert report.left_behind == 1
    assert any(line.startswith(f"fraud/1/model.onnx: still corrupted: {wrong / 'model.onnx'} is another file")
               for line in report.lines), report.lines

    report = restore_version(b, admin, "fraud", 1, good)
    assert report.left_behind == 0 and f"fraud/1/model.onnx: restored from {good / 'model.onnx'}" in report.lines
    [served] = ingest.ingest(b, SYSTEM, "fraud", [uncertain(3)])
    assert served.model_version == 1
    assert restore_version(b, admin, "fraud", 1, wrong).lines == ["fraud/1/model.onnx: sound"]
    with b.engine.connect() as conn:
        audited = conn.execute(select(AuditEntry.action, AuditEntry.actor)).all()  # type: ignore[call-overload]
    assert ("artifacts.restore", "cli:ops") in [tuple(r) for r in audited]
    with b.engine.begin() as conn, pytest.raises(ConfigurationError, match="that file is not the one recorded"):
        row = artifact_queries.artifact(conn, "fraud/1/model.onnx")
        assert row is not None
        b.artifacts.restore(conn, row, b"some other model")  # the store itself never takes other bytes
