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


@app.post("/predict/stored", response_model=PredictOut)
def predict_stored(body: PredictIn) -> PredictOut:
    session, spec, input_name = _floor_model()
    version_id = int(os.environ.get("RQ_BENCH_FLOOR_VERSION_ID", "1"))
    out = []
    for e in body.events:
        matrix = spec.features.encode([e.features])
        score = float(session.run(None, {input_name: matrix})[-1][0][1])
        route = spec.routing.route(score).value
        now = datetime.now(UTC)
        prediction_id = _insert_one((
            "fraud", e.external_id, version_id, score, route, False, json.dumps(e.features), json.dumps(e.context),
            e.context.get("charge_id"), spec.policy_version, 1.0 if route == "review" else 0.0, now))
        out.append(PredictionOut(external_id=e.external_id, prediction_id=prediction_id, score=score, route=route,
                                 audited=False, item_id=None, model_version=1, duplicate=False))
    return PredictOut(model="fraud", predictions=out)
