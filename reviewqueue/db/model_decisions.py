"""The model's own decisions on a batch's confident predictions, and those decisions' outbox actions, built by
the database from the prediction rows the batch has just stored: batch ingest sends the prediction ids, not a
decision row and an action row (with a JSON copy of the event) per event.

Building and sending those rows from Python cost more than half of a batch's time (BENCHMARKS.md §3): an id, a
payload dict, its JSON and the driver's per-value work for two rows per event, ~94% of fraud events being
auto-decided. Here they are ``INSERT … SELECT`` over the stored predictions — on PostgreSQL one statement (the
actions' INSERTs select from the decisions' ``INSERT … RETURNING``). The rows are the ones the row-by-row path
writes (services.payloads.action_payload and outbox_rows; tests/integration/test_model_decisions.py compares
them): the decision with source ``model``, and per action a pending row whose payload holds the same keys in the
same order, the score a float. Only the JSON text's spacing differs (PostgreSQL's ``json_build_object`` writes
``"k" : v``, SQLite's ``json_object`` no spaces); what reads it is a JSON parser. An action id is 128 random bits
as 32 hex digits, as ``tables.new_id`` makes them.

Plans do not depend on statistics (ingest must stay flat on a table never analysed, BENCHMARKS §11): on
PostgreSQL each id is looked up on its own through the primary key (``LATERAL … LIMIT 1``, which the planner
cannot turn into a scan), and the decisions are joined from the statement's own RETURNING, not read back.

Callers pass predictions this transaction stored, that carry no review item and none of whose actions was
refused: their payload's ``item_id`` is null and every action of the verdict is pending. The others keep the
row-by-row path.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, text
from sqlalchemy.engine import Connection
from sqlalchemy.types import JSON

from reviewqueue.db.types import UTCDateTime

__all__ = ["write_model_decisions"]

_SOURCE = "model"  # domain.states.DecisionSource.MODEL, and the payload's "source"
_PENDING = "pending"  # domain.states.ActionStatus.PENDING

_DECISION_COLUMNS = "prediction_id, item_id, verdict, source, actor, note, created_at"
_ACTION_COLUMNS = ("id, decision_id, connector, params, payload, status, attempts, outcome_unknown, last_error, "
                   "next_attempt_at, created_at, compensates")

# services.payloads.action_payload, key for key; {p} the prediction row, {d} the decision row, {score} and
# {json} what each dialect needs to write a double and embed stored JSON text
_PAYLOAD = [("model", "{p}.model_name"), ("external_id", "{p}.external_id"), ("prediction_id", "{p}.id"),
            ("item_id", "NULL"), ("decision_id", "{d}.id"), ("verdict", "{d}.verdict"), ("score", "{score}"),
            ("source", f"'{_SOURCE}'"), ("actor", "{d}.actor"), ("features", "{json}({p}.features)"),
            ("context", "{json}({p}.context)")]


def write_model_decisions(
    conn: Connection, prediction_ids: Sequence[int], *, verdict_of_route: Mapping[str, str], actor: str,
    actions: Mapping[str, Sequence[tuple[str, Mapping[str, Any]]]], now: datetime,
) -> None:
    """For each stored prediction in ``prediction_ids`` (auto-routed: its route is a key of ``verdict_of_route``),
    write the model's decision (by ``actor``) and one pending outbox action per ``(connector, params)`` in
    ``actions[verdict]``, all created at ``now``."""
    if not prediction_ids:
        return
    routes = list(verdict_of_route.items())
    fired = [(verdict, connector, params) for verdict in dict.fromkeys(verdict_of_route.values())
             for connector, params in actions.get(verdict, ())]
    values: dict[str, Any] = {"actor": actor, "now": now}
    for n, (route, verdict) in enumerate(routes):
        values |= {f"route{n}": route, f"verdict{n}": verdict}
    for n, (verdict, connector, params) in enumerate(fired):
        values |= {f"a{n}_verdict": verdict, f"a{n}_connector": connector, f"a{n}_params": dict(params)}
    binds = [bindparam("now", type_=UTCDateTime())] + [bindparam(f"a{n}_params", type_=JSON())
                                                         for n in range(len(fired))]
    if conn.dialect.name == "postgresql":
        statement = text(_postgresql(len(routes), len(fired))).bindparams(*binds)
        conn.execute(statement, {**values, "ids": list(prediction_ids)})
        return
    if conn.dialect.name != "sqlite":
        raise NotImplementedError(f"model decisions on {conn.dialect.name}")
    values["ids"] = json.dumps(list(prediction_ids))
    conn.execute(text(_sqlite_decisions(len(routes))).bindparams(*binds[:1]), values)
    for n in range(len(fired)):
        conn.execute(text(_sqlite_actions(n)).bindparams(binds[0], binds[1 + n]), values)


def _verdict_case(n_routes: int, p: str) -> str:
    whens = " ".join(f"WHEN :route{n} THEN :verdict{n}" for n in range(n_routes))
    return f"CASE {p}.route {whens} END"


def _payload(build: str, p: str, d: str, score: str, embed: str) -> str:
    parts = ", ".join(f"'{key}', " + value.format(p=p, d=d, score=score, json=embed) for key, value in _PAYLOAD)
    return f"{build}({parts})"


def _postgresql(n_routes: int, n_actions: int) -> str:
    # a double printed by PostgreSQL as an integer ("1") would read back as an int: give it Python's ".0"
    score = ("CASE WHEN CAST(to_json(p.score) AS text) ~ '^-?[0-9]+$' "
             "THEN CAST(CAST(to_json(p.score) AS text) || '.0' AS json) ELSE to_json(p.score) END")
    payload = _payload("json_build_object", "p", "d", score, "")
    ctes = [f"""d AS (
        INSERT INTO decisions ({_DECISION_COLUMNS})
        SELECT p.id, NULL, {_verdict_case(n_routes, "p")}, '{_SOURCE}', :actor, '', :now
        FROM unnest(CAST(:ids AS bigint[])) AS wanted(id)
        CROSS JOIN LATERAL (SELECT id, route FROM predictions WHERE predictions.id = wanted.id LIMIT 1) AS p
        ORDER BY p.id
        RETURNING id, prediction_id, verdict, actor)"""]
    for n in range(n_actions):
        ctes.append(f"""a{n} AS (
        INSERT INTO outbox_actions ({_ACTION_COLUMNS})
        SELECT replace(CAST(gen_random_uuid() AS text), '-', ''), d.id, :a{n}_connector, :a{n}_params,
               {payload}, '{_PENDING}', 0, false, NULL, :now, :now, NULL
        FROM d CROSS JOIN LATERAL (SELECT * FROM predictions WHERE predictions.id = d.prediction_id LIMIT 1) AS p
        WHERE d.verdict = :a{n}_verdict)""")
    return f"WITH {', '.join(ctes)}\nSELECT count(*) FROM d"


_SQLITE_BATCH = "IN (SELECT value FROM json_each(:ids))"


def _sqlite_decisions(n_routes: int) -> str:
    return f"""INSERT INTO decisions ({_DECISION_COLUMNS})
        SELECT p.id, NULL, {_verdict_case(n_routes, "p")}, '{_SOURCE}', :actor, '', :now
        FROM predictions AS p WHERE p.id {_SQLITE_BATCH} ORDER BY p.id"""


def _sqlite_actions(n: int) -> str:
    # json_object would print the REAL with 15 digits: 17 significant digits read back as the same double
    payload = _payload("json_object", "p", "d", "json(printf('%!.17g', p.score))", "json")
    return f"""INSERT INTO outbox_actions ({_ACTION_COLUMNS})
        SELECT lower(hex(randomblob(16))), d.id, :a{n}_connector, :a{n}_params, {payload},
               '{_PENDING}', 0, 0, NULL, :now, :now, NULL
        FROM decisions AS d JOIN predictions AS p ON p.id = d.prediction_id
        WHERE d.prediction_id {_SQLITE_BATCH} AND d.source = '{_SOURCE}' AND d.verdict = :a{n}_verdict"""
