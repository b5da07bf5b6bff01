"""One prediction and everything it makes happen — its review item, the model's own decision, that decision's
outbox actions — written together: the single-event path of ingest (POST one event, answer at once).

On PostgreSQL it is ONE statement: data-modifying CTEs chain the rows (the item and the decision take the
prediction's new id, each action its decision's id, and its payload those ids — spliced into the payload's
JSON text where the ids go, so the stored text is exactly what the ORM would store). Run on an autocommit connection
the statement is its own transaction, so the request's whole write costs one round trip and one WAL flush, where
BEGIN + an INSERT per row + COMMIT cost four or five (BENCHMARKS.md §11). The prediction's INSERT keeps its
guards (db.predictions._insert_if_new): nothing is written when the external id is stored already, or the
versions it was scored with no longer serve; every other INSERT selects from its result, so it writes nothing
either, and the caller gets NotStored.

Elsewhere (SQLite: no data-modifying CTEs, and no round trips to save in process) the same rows are written one
INSERT after another inside the caller's transaction.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from functools import lru_cache
from typing import Any, NamedTuple

from sqlalchemy import Table, bindparam, text
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import TextClause

from reviewqueue.db import decisions, items, outbox, predictions
from reviewqueue.db.tables import decisions_table, items_table, outbox_table, predictions_table

__all__ = ["Written", "write_prediction"]

# The ids an action's payload names, filled in once the rows have them (services.payloads.action_payload).
PAYLOAD_IDS = ("prediction_id", "decision_id", "item_id")


class Written(NamedTuple):
    prediction_id: int
    item_id: int | None
    decision_id: int | None


def write_prediction(
    conn: Connection, prediction: dict[str, Any], shadow_id: int | None, item: dict[str, Any] | None,
    decision: dict[str, Any] | None, actions: Sequence[dict[str, Any]],
) -> Written:
    """Write ``prediction`` (guarded: NotStored when it is not written), its ``item`` and the model's
    ``decision`` (their ``prediction_id``, and each action's ``decision_id`` and the PAYLOAD_IDS in its payload,
    are set here, whatever the rows hold), and the decision's ``actions``. ``actions`` need a ``decision``."""
    if actions and decision is None:
        raise ValueError("actions belong to a decision")
    if conn.dialect.name == "postgresql":
        return _one_statement(conn, prediction, shadow_id, item, decision, actions)
    return _one_by_one(conn, prediction, shadow_id, item, decision, actions)


def _one_by_one(
    conn: Connection, prediction: dict[str, Any], shadow_id: int | None, item: dict[str, Any] | None,
    decision: dict[str, Any] | None, actions: Sequence[dict[str, Any]],
) -> Written:
    [prediction_id] = predictions.insert_predictions(conn, [prediction], shadow_id)
    item_id = items.insert_items(conn, [{**item, "prediction_id": prediction_id}])[0] if item else None
    decision_id = None
    if decision is not None:
        [decision_id] = decisions.insert_decisions(conn, [{**decision, "prediction_id": prediction_id}])
        ids = {"prediction_id": prediction_id, "decision_id": decision_id, "item_id": item_id}
        outbox.insert_actions(conn, [{**a, "decision_id": decision_id, "payload": {**a["payload"], **ids}}
                                     for a in actions])
    return Written(prediction_id, item_id, decision_id)


def _one_statement(
    conn: Connection, prediction: dict[str, Any], shadow_id: int | None, item: dict[str, Any] | None,
    decision: dict[str, Any] | None, actions: Sequence[dict[str, Any]],
) -> Written:
    action_columns = tuple(c for c in actions[0] if c not in ("decision_id", "payload")) if actions else ()
    spliced = [_payload_pieces(a["payload"], item is not None) for a in actions]
    statement = _statement(tuple(prediction), tuple(item) if item else None,
                           tuple(decision) if decision else None, action_columns,
                           tuple(ids for _pieces, ids in spliced))
    params: dict[str, Any] = {f"p_{k}": v for k, v in prediction.items()}
    params["serving_shadow"] = shadow_id or 0
    params.update({f"i_{k}": v for k, v in (item or {}).items()})
    params.update({f"d_{k}": v for k, v in (decision or {}).items()})
    for n, (action, (pieces, _ids)) in enumerate(zip(actions, spliced, strict=True)):
        params.update({f"a{n}_{k}": action[k] for k in action_columns})
        params.update({f"a{n}_piece{j}": piece for j, piece in enumerate(pieces)})
    row = conn.execute(statement, params).first()
    if row is None:
        raise predictions.NotStored(prediction["external_id"])
    return Written(int(row[0]), None if row[1] is None else int(row[1]), None if row[2] is None else int(row[2]))


def _payload_pieces(payload: dict[str, Any], with_item: bool) -> tuple[list[str], tuple[str, ...]]:
    """The payload's JSON text (as the JSON column would write it: json.dumps) cut where the ids go, and which
    id goes in each cut, in order. The cuts are marked with a random token no event can contain."""
    token = uuid.uuid4().hex
    ids = ("prediction_id", "decision_id", *(("item_id",) if with_item else ()))
    marked = json.dumps({**payload, **{k: f"{token}:{k}" for k in ids}})
    cuts = sorted((marked.index(f'"{token}:{k}"'), k) for k in ids)
    pieces, start = [], 0
    for at, key in cuts:
        pieces.append(marked[start:at])
        start = at + len(f'"{token}:{key}"')
    pieces.append(marked[start:])
    return pieces, tuple(k for _at, k in cuts)


def _typed(table: Table, prefix: str, columns: Sequence[str]) -> list[Any]:
    return [bindparam(f"{prefix}{c}", type_=table.c[c].type) for c in columns]


@lru_cache(maxsize=64)
def _statement(prediction: tuple[str, ...], item: tuple[str, ...] | None, decision: tuple[str, ...] | None,
               action: tuple[str, ...], payload_ids: tuple[tuple[str, ...], ...]) -> TextClause:
    """The one statement for this shape of write, built once per shape: the columns, an item or not, and per
    action the ids its payload takes, in their order."""
    binds = _typed(predictions_table, "p_", prediction)
    ctes = [f"""p AS (
        INSERT INTO predictions ({", ".join(prediction)})
        SELECT {", ".join(f":p_{c}" for c in prediction)}
        WHERE EXISTS (SELECT 1 FROM model_versions WHERE id = :p_version_id AND status = 'champion')
          AND (SELECT coalesce(max(id), 0) FROM model_versions
               WHERE model_name = :p_model_name AND status = 'shadow') = :serving_shadow
        ON CONFLICT (model_name, external_id) DO NOTHING
        RETURNING id)"""]
    binds.append(bindparam("serving_shadow"))
    for name, table, columns in (("i", items_table, item), ("d", decisions_table, decision)):
        if columns is not None:  # the item and the decision: one row each, taking the prediction's id
            ctes.append(_child_of_prediction(name, table, [c for c in columns if c != "prediction_id"], binds))
    if payload_ids:
        source = {"prediction_id": "p.id", "decision_id": "d.id", "item_id": "(SELECT id FROM i)"}
        selects = []
        for n, ids in enumerate(payload_ids):
            binds += _typed(outbox_table, f"a{n}_", action)
            pieces = [f"CAST(:a{n}_piece0 AS text)"]
            for j, key in enumerate(ids, start=1):
                pieces += [f"CAST({source[key]} AS text)", f"CAST(:a{n}_piece{j} AS text)"]
            binds += [bindparam(f"a{n}_piece{j}") for j in range(len(ids) + 1)]
            values = ", ".join(f":a{n}_{c}" for c in action)
            selects.append(f"SELECT d.id, {values}, CAST({' || '.join(pieces)} AS json) FROM p, d")
        ctes.append(f"""o AS (
        INSERT INTO outbox_actions (decision_id, {", ".join(action)}, payload)
        {" UNION ALL ".join(selects)})""")
    returned = ", ".join(["p.id", "(SELECT id FROM i)" if item is not None else "NULL",
                          "(SELECT id FROM d)" if decision is not None else "NULL"])
    return text(f"WITH {', '.join(ctes)}\nSELECT {returned} FROM p").bindparams(*binds)


def _child_of_prediction(name: str, table: Table, columns: list[str], binds: list[Any]) -> str:
    """The CTE ``name`` inserting one row of ``table`` whose prediction_id is the new prediction's (none when the
    prediction was not written); its values bound as ``{name}_{column}`` (appended to ``binds``)."""
    binds += _typed(table, f"{name}_", columns)
    return f"""{name} AS (
        INSERT INTO {table.name} (prediction_id, {", ".join(columns)})
        SELECT p.id, {", ".join(f":{name}_{c}" for c in columns)} FROM p
        RETURNING id)"""
