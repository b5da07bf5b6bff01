"""Migrations: head matches the models, every index the hot paths rely on survives, and downgrade works."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.exc import DBAPIError
from sqlmodel import SQLModel

import reviewqueue.db.tables  # noqa: F401
from reviewqueue.db.decisions import by_actor_query
from reviewqueue.db.engine import make_engine
from reviewqueue.db.migrate import downgrade, upgrade

HOT_INDEXES = {"review_items": {"ix_items_claim", "ix_items_lease", "ix_items_open", "ix_items_holder"},
               "outbox_actions": {"ix_outbox_due", "ix_outbox_inflight", "ix_outbox_status"},
               "audit_log": {"ix_audit_log_action"}}


def test_head_matches_models_and_keeps_hot_indexes(database_url):
    engine = make_engine(database_url)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), SQLModel.metadata)
        names = {table: {ix["name"] for ix in inspect(conn).get_indexes(table)} for table in HOT_INDEXES}
        outbox_status = next(ix for ix in inspect(conn).get_indexes("outbox_actions")
                             if ix["name"] == "ix_outbox_status")
    # expression indexes can't be compared by autogenerate; everything else must match exactly
    meaningful = [d for d in diff if not (isinstance(d, tuple) and d[0] in ("add_index", "remove_index")
                                          and d[1].name == "ix_items_claim")]
    assert meaningful == [], meaningful
    for table, wanted in HOT_INDEXES.items():
        assert wanted <= names[table], f"{table} lost {wanted - names[table]}"
    # dead-letter pages walk (status, created_at, id) newest first; a (status)-only index would sort every dead row
    assert outbox_status["column_names"] == ["status", "created_at", "id"]
    engine.dispose()


def test_audit_log_is_append_only_and_tokens_record_their_revocation(database_url):
    """0006: audit_log rows can be added but, on PostgreSQL, neither changed nor deleted; api_tokens.revoked_at."""
    engine = make_engine(database_url)
    with engine.connect() as conn:
        assert "revoked_at" in {c["name"] for c in inspect(conn).get_columns("api_tokens")}
        assert {c["name"] for c in inspect(conn).get_columns("audit_log")} == {
            "id", "at", "actor", "actor_id", "action", "target", "detail"}
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO audit_log (at, actor, action, target, detail) "
                              "VALUES (now(), 'admin', 'user.disable', 'principal:x', '{}')"))
        for statement in ("UPDATE audit_log SET actor = 'someone else'", "DELETE FROM audit_log"):
            with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
                conn.execute(text(statement))
        with engine.begin() as conn:
            conn.execute(text("TRUNCATE audit_log"))  # the test suite's own cleanup still works
    engine.dispose()


def test_downgrade_to_base_and_back(tmp_path):
    url = f"sqlite:///{tmp_path / 'm.db'}"
    upgrade(url)
    downgrade(url, "base")
    engine = make_engine(url)
    with engine.connect() as conn:
        assert set(inspect(conn).get_table_names()) <= {"alembic_version"}
    engine.dispose()
    upgrade(url)


def test_undo_columns_and_the_compensation_index(database_url):
    """0007: decisions record undo windows, undos and reversals; labels can be withdrawn; compensations point at
    the action they undo, through an index of compensations only."""
    engine = make_engine(database_url)
    with engine.connect() as conn:
        columns = {c["name"] for c in inspect(conn).get_columns("decisions")}
        assert {"undo_until", "undone_at", "undone_by", "reversed_at", "reversed_by", "reverse_reason"} <= columns
        assert "withdrawn_at" in {c["name"] for c in inspect(conn).get_columns("labels")}
        [index] = [ix for ix in inspect(conn).get_indexes("outbox_actions") if ix["name"] == "ix_outbox_compensates"]
    assert index["column_names"] == ["compensates"]
    engine.dispose()


def test_0007_downgrades_to_0006_and_back(tmp_path):
    url = f"sqlite:///{tmp_path / 'm7.db'}"
    upgrade(url)
    downgrade(url, "0006")
    engine = make_engine(url)
    with engine.connect() as conn:
        assert "undo_until" not in {c["name"] for c in inspect(conn).get_columns("decisions")}
        assert "compensates" not in {c["name"] for c in inspect(conn).get_columns("outbox_actions")}
        assert "ix_outbox_due" in {ix["name"] for ix in inspect(conn).get_indexes("outbox_actions")}
    engine.dispose()
    upgrade(url)


def test_four_eyes_votes_table_and_its_open_vote_index(database_url):
    """0008: votes (who voted what on an item, open until the round's decision), at most one open vote per
    reviewer and item, enforced by a partial unique index."""
    engine = make_engine(database_url)
    with engine.connect() as conn:
        columns = {c["name"] for c in inspect(conn).get_columns("votes")}
        indexes = {ix["name"]: ix for ix in inspect(conn).get_indexes("votes")}
    assert columns == {"id", "item_id", "principal_id", "actor", "verdict", "note", "created_at", "decision_id"}
    assert indexes["ux_votes_open"]["column_names"] == ["item_id", "principal_id"]
    assert indexes["ux_votes_open"]["unique"]
    engine.dispose()


def test_0008_downgrades_to_0007_and_back(tmp_path):
    url = f"sqlite:///{tmp_path / 'm8.db'}"
    upgrade(url)
    downgrade(url, "0007")
    engine = make_engine(url)
    with engine.connect() as conn:
        assert "votes" not in inspect(conn).get_table_names()
        assert "undo_until" in {c["name"] for c in inspect(conn).get_columns("decisions")}
    engine.dispose()
    upgrade(url)


def test_training_progress_columns_and_time_ordered_outbox_indexes(database_url):
    """0014: a run's stage and progress; outbox lists keyset-paged on (created_at, id), with or without status."""
    engine = make_engine(database_url)
    with engine.connect() as conn:
        columns = {c["name"]: c for c in inspect(conn).get_columns("training_runs")}
        indexes = {ix["name"]: ix["column_names"] for ix in inspect(conn).get_indexes("outbox_actions")}
    assert {"stage", "progress"} <= set(columns) and not columns["stage"]["nullable"]
    assert indexes["ix_outbox_created"] == ["created_at", "id"]
    assert indexes["ix_outbox_status"] == ["status", "created_at", "id"]
    engine.dispose()


def test_0014_downgrades_to_0013_and_back(tmp_path):
    url = f"sqlite:///{tmp_path / 'm14.db'}"
    upgrade(url)
    engine = make_engine(url)
    with engine.begin() as conn:  # a run from before the upgrade keeps its row through the round trip
        conn.execute(text("INSERT INTO training_runs (model_name, trigger, status, label_ids, n_labels, "
                          "max_label_id, champion_metrics, candidate_metrics, decision, warnings, started_at, "
                          "stage, progress) VALUES ('fraud', 'manual', 'running', '[]', 0, 0, '{}', '{}', '', "
                          "'[]', '2026-12-01 00:00:00', 'training', 0.15)"))
    downgrade(url, "0013")
    with engine.connect() as conn:
        assert not {"stage", "progress"} & {c["name"] for c in inspect(conn).get_columns("training_runs")}
        indexes = {ix["name"]: ix["column_names"] for ix in inspect(conn).get_indexes("outbox_actions")}
        assert "ix_outbox_created" not in indexes and indexes["ix_outbox_status"] == ["status", "id"]
        assert conn.execute(text("SELECT count(*) FROM training_runs")).scalar_one() == 1
    upgrade(url)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT stage, progress FROM training_runs")).one() == ("", None)
    engine.dispose()


def test_routing_policies_table_and_the_claim_time(database_url):
    """0010: routing_policies (a model's applied thresholds, numbered, with who/why/evidence), at most one active
    per model by a partial unique index; review_items.claimed_at for a reviewer's time to decision."""
    engine = make_engine(database_url)
    with engine.connect() as conn:
        columns = {c["name"] for c in inspect(conn).get_columns("routing_policies")}
        indexes = {ix["name"]: ix for ix in inspect(conn).get_indexes("routing_policies")}
        item_columns = {c["name"] for c in inspect(conn).get_columns("review_items")}
    assert columns == {"id", "model_name", "version", "review_low", "review_high", "audit_fraction",
                       "policy_version", "actor", "reason", "evidence", "active", "created_at"}
    assert indexes["ux_routing_policies_active"]["column_names"] == ["model_name"]
    assert indexes["ux_routing_policies_active"]["unique"]
    assert "claimed_at" in item_columns
    engine.dispose()


def test_0010_downgrades_to_0009_and_back(tmp_path):
    url = f"sqlite:///{tmp_path / 'm10.db'}"
    upgrade(url)
    downgrade(url, "0009")
    engine = make_engine(url)
    with engine.connect() as conn:
        assert "routing_policies" not in inspect(conn).get_table_names()
        assert "claimed_at" not in {c["name"] for c in inspect(conn).get_columns("review_items")}
        assert HOT_INDEXES["review_items"] <= {ix["name"] for ix in inspect(conn).get_indexes("review_items")}
    engine.dispose()
    upgrade(url)


def test_artifact_store_tables(database_url):
    """0013: artifacts (key, sha256, size, chunk count) and artifact_chunks (key, seq, content) for the database
    artifact store."""
    engine = make_engine(database_url)
    with engine.connect() as conn:
        artifacts = {c["name"] for c in inspect(conn).get_columns("artifacts")}
        chunks = {c["name"] for c in inspect(conn).get_columns("artifact_chunks")}
        keys = inspect(conn).get_pk_constraint("artifact_chunks")["constrained_columns"]
    assert artifacts == {"key", "sha256", "size", "chunks", "created_at"}
    assert chunks == {"key", "seq", "content"} and keys == ["key", "seq"]
    engine.dispose()


def test_0013_downgrades_to_0012_and_back(tmp_path):
    url = f"sqlite:///{tmp_path / 'm13.db'}"
    upgrade(url)
    downgrade(url, "0012")
    engine = make_engine(url)
    with engine.connect() as conn:
        assert not {"artifacts", "artifact_chunks"} & set(inspect(conn).get_table_names())
    engine.dispose()
    upgrade(url)


def test_prediction_subject_and_its_history_indexes(database_url):
    """0009: predictions.subject (the model's history key's value) with ix_predictions_subject (model, subject,
    id) for the triage page's same-customer list; ix_decisions_actor (actor, id) for "my decisions"."""
    engine = make_engine(database_url)
    with engine.connect() as conn:
        columns = {c["name"]: c for c in inspect(conn).get_columns("predictions")}
        prediction_indexes = {ix["name"]: ix for ix in inspect(conn).get_indexes("predictions")}
        decision_indexes = {ix["name"]: ix for ix in inspect(conn).get_indexes("decisions")}
    assert columns["subject"]["nullable"]
    assert prediction_indexes["ix_predictions_subject"]["column_names"] == ["model_name", "subject", "id"]
    assert decision_indexes["ix_decisions_actor"]["column_names"] == ["actor", "id"]
    engine.dispose()


def test_0009_downgrades_to_0008_and_back(tmp_path):
    url = f"sqlite:///{tmp_path / 'm9.db'}"
    upgrade(url)
    downgrade(url, "0008")
    engine = make_engine(url)
    with engine.connect() as conn:
        assert "subject" not in {c["name"] for c in inspect(conn).get_columns("predictions")}
        assert "ix_decisions_actor" not in {ix["name"] for ix in inspect(conn).get_indexes("decisions")}
        assert "ix_predictions_correlation" in {ix["name"] for ix in inspect(conn).get_indexes("predictions")}
    engine.dispose()
    upgrade(url)


def test_drift_reference_column_and_alerts_table(database_url):
    """0011: model_versions.reference (nullable: older versions have none); drift_alerts unique per model, input
    and day."""
    engine = make_engine(database_url)
    with engine.connect() as conn:
        reference = {c["name"]: c for c in inspect(conn).get_columns("model_versions")}["reference"]
        columns = {c["name"] for c in inspect(conn).get_columns("drift_alerts")}
        unique = [u["column_names"] for u in inspect(conn).get_unique_constraints("drift_alerts")]
    assert reference["nullable"]
    assert columns == {"id", "model_name", "version", "feature", "day", "psi", "psi_low", "psi_high", "n", "sent_at"}
    assert unique == [["model_name", "feature", "day"]]
    engine.dispose()


def test_0011_downgrades_to_0010_and_back(tmp_path):
    url = f"sqlite:///{tmp_path / 'm11.db'}"
    upgrade(url)
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO drift_alerts (model_name, version, feature, day, psi, psi_low, psi_high, n, "
                          "sent_at) VALUES ('fraud', 1, 'amount', '2026-12-01', 0.4, 0.3, 0.5, 500, "
                          "'2026-12-01 06:15:00')"))
        with pytest.raises(DBAPIError), conn.begin_nested():  # once per model, input and day
            conn.execute(text("INSERT INTO drift_alerts (model_name, version, feature, day, psi, psi_low, psi_high, "
                              "n, sent_at) VALUES ('fraud', 1, 'amount', '2026-12-01', 0.5, 0.4, 0.6, 600, "
                              "'2026-12-01 07:15:00')"))
    downgrade(url, "0010")
    with engine.connect() as conn:
        assert "drift_alerts" not in inspect(conn).get_table_names()
        assert "reference" not in {c["name"] for c in inspect(conn).get_columns("model_versions")}
    engine.dispose()
    upgrade(url)


def test_serving_profile_and_config_columns(database_url):
    """0012: model_versions.serving_profile (what bench-model measured) and serving_config (what --apply chose),
    both nullable: a version never measured serves as before."""
    engine = make_engine(database_url)
    with engine.connect() as conn:
        columns = {c["name"]: c for c in inspect(conn).get_columns("model_versions")}
    assert columns["serving_profile"]["nullable"] and columns["serving_config"]["nullable"]
    engine.dispose()


def test_0012_downgrades_to_0011_and_back(tmp_path):
    url = f"sqlite:///{tmp_path / 'm12.db'}"
    upgrade(url)
    downgrade(url, "0011")
    engine = make_engine(url)
    with engine.connect() as conn:
        columns = {c["name"] for c in inspect(conn).get_columns("model_versions")}
    assert not {"serving_profile", "serving_config"} & columns and "sha256" in columns
    engine.dispose()
    upgrade(url)



def _index_predicate(index: dict) -> str:
    """A partial index's WHERE as the engine reflects it, without casts and parentheses, lower case ('' if none)."""
    options = index.get("dialect_options", {})
    where = next((str(options[key]) for key in ("postgresql_where", "sqlite_where")
                  if options.get(key) is not None), "")
    for noise in ("::character varying", "::text", "(", ")"):
        where = where.replace(noise, "")
    return where.strip().lower()


def _plan(conn, statement: str) -> str:
    if conn.dialect.name == "postgresql":
        conn.execute(text("SET LOCAL enable_seqscan = off"))  # an empty table: ask whether the index can serve
        return "\n".join(r[0] for r in conn.execute(text(f"EXPLAIN {statement}")))
    return "\n".join(str(r[-1]) for r in conn.execute(text(f"EXPLAIN QUERY PLAN {statement}")))


def test_decision_indexes_hold_only_peoples_decisions(database_url):
    """0015: the model's own decisions (no item, never listed by actor) enter neither index; "my decisions" (its
    query's own source literal) and the item foreign key's check (item_id = $1) are still planned through them."""
    engine = make_engine(database_url)
    with engine.connect() as conn:
        indexes = {ix["name"]: ix for ix in inspect(conn).get_indexes("decisions")}
        assert indexes["ix_decisions_item_id"]["column_names"] == ["item_id"]
        assert _index_predicate(indexes["ix_decisions_item_id"]) == "item_id is not null"
        assert indexes["ix_decisions_actor"]["column_names"] == ["actor", "id"]
        assert _index_predicate(indexes["ix_decisions_actor"]) == "source = 'reviewer'"
        mine = by_actor_query("ana", None, None, None, 10).compile(conn, compile_kwargs={"literal_binds": True})
        assert "ix_decisions_actor" in (plan := _plan(conn, str(mine))), plan
        assert "ix_decisions_item_id" in (plan := _plan(conn, "SELECT 1 FROM decisions WHERE item_id = 7")), plan
    engine.dispose()


def test_0015_downgrades_to_0014_and_back(tmp_path):
    url = f"sqlite:///{tmp_path / 'm15.db'}"
    upgrade(url)
    downgrade(url, "0014")
    engine = make_engine(url)
    with engine.connect() as conn:
        indexes = {ix["name"]: ix for ix in inspect(conn).get_indexes("decisions")}
        assert _index_predicate(indexes["ix_decisions_item_id"]) == ""
        assert _index_predicate(indexes["ix_decisions_actor"]) == ""
    upgrade(url)
    with engine.connect() as conn:
        indexes = {ix["name"]: ix for ix in inspect(conn).get_indexes("decisions")}
        assert _index_predicate(indexes["ix_decisions_item_id"]) == "item_id is not null"
        assert _index_predicate(indexes["ix_decisions_actor"]) == "source = 'reviewer'"
    engine.dispose()
