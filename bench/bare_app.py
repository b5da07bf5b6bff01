"""Bare FastAPI baselines for the HTTP benchmarks (served by uvicorn exactly like the product's API).

- ``POST /claim/{queue}``: the product's claim statement (captured by bench/claim.py and passed in
  ``RQ_BENCH_CLAIM_SQL``) through bare psycopg, one connection per server thread; returns the claimed id,
  204 when the queue is empty.
- ``POST /predict``: a pydantic-validated POST with the same body shape as ``/v1/models/{m}/predictions``,
  answered without scoring or storing anything.
- ``POST /predict/stored``: the fair floor for a durable prediction — the same pydantic validation, one-row
  scoring with a bare onnxruntime session (``RQ_BENCH_FLOOR_ARTIFACT``), and ONE ``INSERT … RETURNING id`` of
  the result into the product's ``predictions`` table, committed (PostgreSQL through psycopg at
  ``RQ_BENCH_BARE_DSN``, or SQLite through sqlite3 at ``RQ_BENCH_BARE_SQLITE`` with the product's pragmas).
- ``POST /predict/stored-rows``: the same floor writing, in one transaction, the rows the product must write for
  the event — the prediction, then for a confident score the model's decision and one pending webhook action
  (the event and the ids in its payload: what the fraud model's auto-pass makes), for an uncertain one a review
  item — each a plain INSERT.
- ``GET /healthz``.

The database comes from ``RQ_BENCH_BARE_DSN`` (a libpq URL); claims are made for ``RQ_BENCH_BARE_PRINCIPAL``.
"""

from __future__ import annotations

import json
import os
import secrets
import threading
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

from fastapi import FastAPI, Response
from pydantic import BaseModel, ConfigDict, Field

from claim import LEASE_SECONDS, ClaimSQL
from reviewqueue.domain.policies import Route

app = FastAPI(title="bare baseline")
_local = threading.local()
PRINCIPAL_ID = int(os.environ.get("RQ_BENCH_BARE_PRINCIPAL", "1"))
CLAIM = ClaimSQL.from_json(os.environ["RQ_BENCH_CLAIM_SQL"]) if "RQ_BENCH_CLAIM_SQL" in os.environ else None


def _conn() -> Any:
    conn = getattr(_local, "conn", None)
    if conn is None or conn.closed or conn.broken:  # reconnect after a database restart
        import psycopg

        conn = psycopg.connect(os.environ["RQ_BENCH_BARE_DSN"])
        _local.conn = conn
    return conn


@app.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@app.post("/claim/{queue}", response_model=None)
def claim(queue: str) -> dict[str, Any] | Response:
    assert CLAIM is not None, "start with RQ_BENCH_CLAIM_SQL (bench/claim_http.py does)"
    conn = _conn()
    params = CLAIM.bind(PRINCIPAL_ID, secrets.token_hex(16), datetime.now(UTC) + timedelta(seconds=LEASE_SECONDS))
    row = conn.execute(CLAIM.sql, params).fetchone()
    conn.commit()
    if row is None:
        return Response(status_code=204)
    return {"id": row[0], "queue": queue}


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class EventIn(Strict):
    external_id: str = Field(min_length=1, max_length=200)
    features: dict[str, Any]
    context: dict[str, Any] = Field(default_factory=dict)


class PredictIn(Strict):
    events: list[EventIn] = Field(min_length=1)


class PredictionOut(BaseModel):
    external_id: str
    prediction_id: int
    score: float
    route: str
    audited: bool
    item_id: int | None
    model_version: int
    duplicate: bool


class PredictOut(BaseModel):
    model: str
    predictions: list[PredictionOut]


@app.post("/predict", response_model=PredictOut)
def predict(body: PredictIn) -> PredictOut:
    return PredictOut(model="fraud", predictions=[
        PredictionOut(external_id=e.external_id, prediction_id=0, score=0.0, route="auto_pass", audited=False,
                      item_id=None, model_version=1, duplicate=False)
        for e in body.events
    ])


# ------------------------------------------------------------------------------------------ the durable floor
FLOOR_COLUMNS = ("model_name", "external_id", "version_id", "score", "route", "audited", "features", "context",
                 "correlation_key", "policy_version", "selection_probability", "created_at")


@cache
def _floor_model() -> tuple[Any, Any, str]:
    """The bare ORT session (1 intra-op thread, as the product on 2 cores) and the fraud model's encoder."""
    import onnxruntime as ort

    from reviewqueue.registry import Registry

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(os.environ["RQ_BENCH_FLOOR_ARTIFACT"], options,
                                   providers=["CPUExecutionProvider"])
    registry = Registry()
    registry.load_modules(["models.fraud"])
    spec = registry.freeze().model("fraud")
    return session, spec, session.get_inputs()[0].name


def _sqlite_conn() -> Any:
    conn = getattr(_local, "sqlite", None)
    if conn is None:
        import sqlite3

        conn = sqlite3.connect(os.environ["RQ_BENCH_BARE_SQLITE"], isolation_level=None)
        for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=ON", "busy_timeout=30000"):
            conn.execute(f"PRAGMA {pragma}")
        _local.sqlite = conn
    return conn


def _insert_one(values: tuple[Any, ...]) -> int:
    """One INSERT of the scored event, committed; its id."""
    if "RQ_BENCH_BARE_SQLITE" in os.environ:
        conn = _sqlite_conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            stamp = values[-1].replace(tzinfo=None).isoformat(sep=" ")
            row = conn.execute(f"INSERT INTO predictions ({', '.join(FLOOR_COLUMNS)}) "
                               f"VALUES ({', '.join('?' * len(FLOOR_COLUMNS))}) RETURNING id",
                               (*values[:-1], stamp)).fetchone()
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return int(row[0])
    pg = _conn()
    row = pg.execute(f"INSERT INTO predictions ({', '.join(FLOOR_COLUMNS)}) "
                     f"VALUES ({', '.join(['%s'] * len(FLOOR_COLUMNS))}) RETURNING id", values).fetchone()
    pg.commit()
    return int(row[0])


# the same rows the product writes for one event (db.single_write), each a plain INSERT, one transaction
DECISION_COLUMNS = ("prediction_id", "verdict", "source", "actor", "note", "created_at")
ACTION_COLUMNS = ("id", "decision_id", "connector", "params", "payload", "status", "attempts", "outcome_unknown",
                  "next_attempt_at", "created_at")
ITEM_COLUMNS = ("prediction_id", "queue", "kind", "priority", "status", "created_at")


def _insert_rows(values: tuple[Any, ...], verdict: str | None) -> int:
    """The prediction and what it makes happen (see ACTION_COLUMNS), committed; the prediction's id."""
    now = values[-1]
    sqlite = "RQ_BENCH_BARE_SQLITE" in os.environ
    conn = _sqlite_conn() if sqlite else _conn()
    mark = "?" if sqlite else "%s"
    stamp = now.replace(tzinfo=None).isoformat(sep=" ") if sqlite else now

    def insert(table: str, columns: tuple[str, ...], row: tuple[Any, ...], returning: bool = True) -> Any:
        sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join([mark] * len(columns))})"
        found = conn.execute(sql + (" RETURNING id" if returning else ""), row)
        return found.fetchone()[0] if returning else None

    if sqlite:
        conn.execute("BEGIN IMMEDIATE")
    try:
        prediction_id = int(insert("predictions", FLOOR_COLUMNS, (*values[:-1], stamp)))
        if verdict is None:
            insert("review_items", ITEM_COLUMNS, (prediction_id, "fraud", "review", 1.0, "pending", stamp))
        else:
            decision_id = insert("decisions", DECISION_COLUMNS,
                                 (prediction_id, verdict, "model", "model:fraud", "", stamp))
            payload = {"prediction_id": prediction_id, "decision_id": decision_id, "item_id": None,
                       "external_id": values[1], "score": values[3], "verdict": verdict,
                       "features": json.loads(values[6]), "context": json.loads(values[7])}
            insert("outbox_actions", ACTION_COLUMNS,
                   (secrets.token_hex(16), decision_id, "webhook", json.dumps({"url": "http://127.0.0.1:9/x"}),
                    json.dumps(payload), "pending", 0, False, stamp, stamp), returning=False)
        conn.execute("COMMIT") if sqlite else conn.commit()
    except BaseException:
        conn.execute("ROLLBACK") if sqlite else conn.rollback()
        raise
    return prediction_id


def _score_and_store(body: PredictIn, same_rows: bool) -> PredictOut:
    session, spec, input_name = _floor_model()
    version_id = int(os.environ.get("RQ_BENCH_FLOOR_VERSION_ID", "1"))
    out = []
    for e in body.events:
        matrix = spec.features.encode([e.features])
        score = float(session.run(None, {input_name: matrix})[-1][0][1])
        route = spec.routing.route(score).value
        now = datetime.now(UTC)
        values = ("fraud", e.external_id, version_id, score, route, False, json.dumps(e.features),
                  json.dumps(e.context), e.context.get("charge_id"), spec.policy_version,
                  1.0 if route == "review" else 0.0, now)
        verdicts = {Route.AUTO_FLAG.value: spec.positive_verdict, Route.AUTO_PASS.value: spec.negative_verdict}
        verdict = verdicts.get(route)
        prediction_id = _insert_rows(values, verdict) if same_rows else _insert_one(values)
        out.append(PredictionOut(external_id=e.external_id, prediction_id=prediction_id, score=score, route=route,
                                 audited=False, item_id=None, model_version=1, duplicate=False))
    return PredictOut(model="fraud", predictions=out)


@app.post("/predict/stored-rows", response_model=PredictOut)
def predict_stored_rows(body: PredictIn) -> PredictOut:
    return _score_and_store(body, same_rows=True)


@app.post("/predict/stored", response_model=PredictOut)
def predict_stored(body: PredictIn) -> PredictOut:
    return _score_and_store(body, same_rows=False)
