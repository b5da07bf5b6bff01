"""Bare FastAPI baselines for the HTTP benchmarks (served by uvicorn exactly like the product's API).

- ``POST /claim/{queue}``: the product's claim statement (captured by bench/claim.py and passed in
  ``RQ_BENCH_CLAIM_SQL``) through bare psycopg, one connection per server thread; returns the claimed id,
  204 when the queue is empty.
- ``POST /predict``: a pydantic-validated POST with the same body shape as ``/v1/models/{m}/predictions``,
  answered without scoring or storing anything.
- ``GET /healthz``.

The database comes from ``RQ_BENCH_BARE_DSN`` (a libpq URL); claims are made for ``RQ_BENCH_BARE_PRINCIPAL``.
"""

from __future__ import annotations

import os
import secrets
import threading
from datetime import UTC, datetime, timedelta
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
