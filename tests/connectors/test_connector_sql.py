"""sql against a SQLite business database: assertions are on the rows."""

from __future__ import annotations

import sqlite3

import pytest

from connectors.sql import SqlConnector
from reviewqueue.errors import ConnectorNotConfigured, PermanentDeliveryError, RetryableDeliveryError

BAN = {
    "statement": "UPDATE users SET banned = 1, banned_reason = :reason WHERE id = :user_id",
    "bind": {"user_id": "context.user_id", "reason": "verdict"},
}


def users(url: str) -> dict[int, tuple[int, str | None]]:
    with sqlite3.connect(url.removeprefix("sqlite:///")) as db:
        rows = db.execute("SELECT id, banned, banned_reason FROM users").fetchall()
    db.close()
    return {row[0]: (row[1], row[2]) for row in rows}


@pytest.fixture
def connector(business_db, make_settings):
    connector = SqlConnector(make_settings(business_db_url=business_db))
    yield connector
    connector.close()


def test_the_ban_statement_bans_exactly_that_user(connector, business_db, make_action):
    outcome = connector.deliver(make_action("sql", params=BAN))

    assert outcome == {"rowcount": 1}
    assert users(business_db) == {1: (0, None), 2: (1, "fraud"), 3: (0, None)}


def test_running_it_again_is_harmless_for_an_idempotent_statement(connector, business_db, make_action):
    connector.deliver(make_action("sql", params=BAN))
    connector.deliver(make_action("sql", params=BAN, attempt=2, outcome_unknown=True))

    assert users(business_db)[2] == (1, "fraud")


def test_values_are_bound_never_spliced_into_the_sql(connector, business_db, make_action, payload_for):
    payload = {**payload_for(), "verdict": "x'; DROP TABLE users; --"}
    connector.deliver(make_action("sql", params=BAN, payload=payload))

    assert users(business_db)[2] == (1, "x'; DROP TABLE users; --")


def test_a_missing_bind_path_is_permanent_and_named(connector, business_db, make_action):
    with pytest.raises(PermanentDeliveryError, match=r"'context\.user_id'"):
        connector.deliver(make_action("sql", params=BAN, payload={"verdict": "fraud", "context": {}}))
    assert users(business_db)[2] == (0, None)


def test_a_parameter_without_a_binding_is_permanent(connector, make_action):
    params = {"statement": BAN["statement"], "bind": {"user_id": "context.user_id"}}

    with pytest.raises(PermanentDeliveryError, match="reason"):
        connector.deliver(make_action("sql", params=params))


def test_a_broken_statement_is_permanent_not_retried(connector, make_action):
    # SQLite reports syntax errors and missing tables as OperationalError; they must not look transient
    for statement in ("UPDATE userz SET banned = 1", "UPDAT users SET banned = 1"):
        with pytest.raises(PermanentDeliveryError):
            connector.deliver(make_action("sql", params={"statement": statement}))


def test_a_locked_database_is_retryable(business_db, make_settings, make_action, closing):
    # pysqlite waits 5 s for a lock by default; the URL's timeout makes the wait short
    connector = closing(SqlConnector(make_settings(business_db_url=business_db + "?timeout=0.05")))
    holder = sqlite3.connect(business_db.removeprefix("sqlite:///"), isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(RetryableDeliveryError, match="locked"):
            connector.deliver(make_action("sql", params=BAN))
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert users(business_db)[2] == (0, None)


def test_one_transaction_per_action_rolls_back_on_failure(connector, business_db, make_action):
    # a statement that fails half-way (the second row violates NOT NULL) leaves no row changed
    params = {"statement": "UPDATE users SET banned = CASE WHEN id = 3 THEN NULL ELSE 1 END"}

    with pytest.raises(PermanentDeliveryError, match="NOT NULL"):
        connector.deliver(make_action("sql", params=params))
    assert all(banned == 0 for banned, _ in users(business_db).values())


def test_without_a_url_it_is_not_configured(make_settings, make_action):
    with pytest.raises(ConnectorNotConfigured, match="BUSINESS_DB_URL"):
        SqlConnector(make_settings()).deliver(make_action("sql", params=BAN))


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"statement": "  "},
        {"statement": "SELECT 1", "bind": ["x"]},
        {"statement": "SELECT :x", "bind": {"x": 3}},
    ],
)
def test_malformed_params_are_permanent(connector, make_action, params):
    with pytest.raises(PermanentDeliveryError):
        connector.deliver(make_action("sql", params=params))
