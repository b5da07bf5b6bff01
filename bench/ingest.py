"""Batch ingest (validate + score + store predictions + route + enqueue + auto-decide) vs bare inserts + bare ORT.

For each backend (PostgreSQL, SQLite) and batch size, in the same run and with rotated order:
  product   reviewqueue.services.ingest.ingest(ctx, actor, "fraud", events)   (one commit)
  bare      the same prediction rows (same columns, JSON payloads serialised in the loop) written with
            COPY (PostgreSQL) or sqlite3 executemany (SQLite) into the same table, one commit
  ort       a bare onnxruntime session scoring the same batch (pre-encoded float32 matrix), same model file
"% of bare incl. scoring" = product rows/s ÷ (batch ÷ (bare insert seconds + bare ORT seconds)).
With --diagnostics a variant measures the code the product replaced (BENCHMARKS finding 4), same run:
  returning the product's ingest with its bulk inserts (reviewqueue/db/bulk.py: ids allocated up front, then COPY
            on PostgreSQL or one executemany on SQLite) swapped back for INSERT … RETURNING executemany
The product writes more than the bare path: a decision and its outbox action(s) for every auto-decided event,
and a review item for every uncertain one; the table reports how many rows it wrote per event. A second floor,
"same rows", writes bare what the product writes for the batch (each prediction; for each auto-routed one its
decision and one webhook action whose payload carries the event, as services.payloads builds it) with the same
bulk method, ids from the tables' sequences, plus the bare ORT scoring: the product against it shows how much of
the gap is the product's own work and how much the rows it must write.

    .venv/bin/python bench/ingest.py                      # batches of 1,000 and 10,000 on PG and SQLite
    .venv/bin/python bench/ingest.py --batches 1000 --backends pg
"""

from __future__ import annotations

import contextlib
import itertools
import json
import sqlite3
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

import common as c

COLUMNS = ("model_name", "external_id", "version_id", "score", "route", "audited", "features", "context",
           "correlation_key", "created_at")


def make_events(n: int, prefix: str, pool: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for i in range(n):
        f = pool[i % len(pool)]
        out.append({"external_id": f"{prefix}-{i}", "features": f,
                    "context": {"charge_id": f"ch_{prefix}_{i}", "user_id": f"u{i % 5000}", "currency": "usd"}})
    return out


def feature_pool(n: int = 20_000) -> list[dict[str, Any]]:
    from models.fraud import synthetic_transactions

    frame = synthetic_transactions(n=n, seed=11).drop(columns="label")
    rows = frame.to_dict("records")
    return [{k: (v.item() if hasattr(v, "item") else v) for k, v in r.items()} for r in rows]


def bare_rows(events: list[dict[str, Any]], scores: np.ndarray, version_id: int, routing: Any) -> list[tuple]:
    now = datetime.now(UTC)
    return [("fraud", e["external_id"], version_id, float(s), routing.route(float(s)).value, False,
             e["features"], e["context"], e["context"]["charge_id"], now) for e, s in zip(events, scores, strict=True)]


def bare_pg(dsn: str, rows: list[tuple]) -> float:
    import psycopg

    with psycopg.connect(dsn) as conn:
        t0 = time.perf_counter()
        with conn.cursor() as cur, cur.copy(f"COPY predictions ({', '.join(COLUMNS)}) FROM STDIN") as copy:
            for r in rows:
                copy.write_row((*r[:6], json.dumps(r[6]), json.dumps(r[7]), *r[8:]))
        conn.commit()
        return time.perf_counter() - t0


def sqlite_conn(path: Path) -> sqlite3.Connection:
    """A connection set up as the product's engine sets up its own (db/engine.py)."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA foreign_keys=ON")
    return conn


def bare_sqlite(path: Path, rows: list[tuple]) -> float:
    conn = sqlite_conn(path)
    try:
        t0 = time.perf_counter()
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(
            f"INSERT INTO predictions ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})",
            [(*r[:6], json.dumps(r[6]), json.dumps(r[7]), r[8], r[9].replace(tzinfo=None).isoformat(sep=" "))
             for r in rows])
        conn.execute("COMMIT")
        return time.perf_counter() - t0
    finally:
        conn.close()


SAME_ROWS_DECISION = ("id", "prediction_id", "verdict", "source", "actor", "note", "created_at")
SAME_ROWS_ACTION = ("id", "decision_id", "connector", "params", "payload", "status", "attempts", "outcome_unknown",
                    "next_attempt_at", "created_at")


def same_rows(rows: list[tuple], ids: list[int], decision_ids: list[int]) -> tuple[list[tuple], list[tuple]]:
    """The decision and the webhook action the product writes for each auto-routed prediction, built bare."""
    import uuid

    decisions, actions = [], []
    auto = [(r, i) for r, i in zip(rows, ids, strict=True) if r[4] != "review"]
    for (r, prediction_id), decision_id in zip(auto, decision_ids, strict=False):
        verdict = "legit" if r[4] == "auto_pass" else "fraud"
        decisions.append((decision_id, prediction_id, verdict, "model", "model:fraud", "", r[9]))
        payload = {"model": "fraud", "external_id": r[1], "prediction_id": prediction_id, "item_id": None,
                   "decision_id": decision_id, "verdict": verdict, "score": r[3], "source": "model",
                   "actor": "model:fraud", "features": r[6], "context": r[7]}
        actions.append((uuid.uuid4().hex, decision_id, "webhook", "{}", json.dumps(payload), "pending", 0, False,
                        r[9], r[9]))
    return decisions, actions


def same_rows_pg(dsn: str, rows: list[tuple]) -> float:
    import psycopg

    with psycopg.connect(dsn) as conn:
        t0 = time.perf_counter()
        n_auto = sum(r[4] != "review" for r in rows)
        ids = [x[0] for x in conn.execute("SELECT nextval('predictions_id_seq') FROM generate_series(1, %s)",
                                          (len(rows),))]
        decision_ids = [x[0] for x in conn.execute("SELECT nextval('decisions_id_seq') FROM generate_series(1, %s)",
                                                   (n_auto,))]
        decisions, actions = same_rows(rows, ids, decision_ids)
        with conn.cursor() as cur:
            with cur.copy(f"COPY predictions (id, {', '.join(COLUMNS)}) FROM STDIN") as copy:
                for i, r in zip(ids, rows, strict=True):
                    copy.write_row((i, *r[:6], json.dumps(r[6]), json.dumps(r[7]), *r[8:]))
            with cur.copy(f"COPY decisions ({', '.join(SAME_ROWS_DECISION)}) FROM STDIN") as copy:
                for d in decisions:
                    copy.write_row(d)
            with cur.copy(f"COPY outbox_actions ({', '.join(SAME_ROWS_ACTION)}) FROM STDIN") as copy:
                for a in actions:
                    copy.write_row(a)
        conn.commit()
        return time.perf_counter() - t0


def same_rows_sqlite(path: Path, rows: list[tuple]) -> float:
    conn = sqlite_conn(path)
    try:
        t0 = time.perf_counter()
        conn.execute("BEGIN IMMEDIATE")
        first = conn.execute("SELECT coalesce(max(id), 0) + 1 FROM predictions").fetchone()[0]
        first_decision = conn.execute("SELECT coalesce(max(id), 0) + 1 FROM decisions").fetchone()[0]
        ids = list(range(first, first + len(rows)))
        decision_ids = list(range(first_decision, first_decision + len(rows)))
        decisions, actions = same_rows(rows, ids, decision_ids)
        naive = rows[0][9].replace(tzinfo=None).isoformat(sep=" ")
        conn.executemany(
            f"INSERT INTO predictions (id, {', '.join(COLUMNS)}) VALUES ({', '.join('?' * (len(COLUMNS) + 1))})",
            [(i, *r[:6], json.dumps(r[6]), json.dumps(r[7]), r[8], naive) for i, r in zip(ids, rows, strict=True)])
        conn.executemany(f"INSERT INTO decisions ({', '.join(SAME_ROWS_DECISION)}) VALUES "
                         f"({', '.join('?' * len(SAME_ROWS_DECISION))})", [(*d[:6], naive) for d in decisions])
        conn.executemany(f"INSERT INTO outbox_actions ({', '.join(SAME_ROWS_ACTION)}) VALUES "
                         f"({', '.join('?' * len(SAME_ROWS_ACTION))})", [(*a[:8], naive, naive) for a in actions])
        conn.execute("COMMIT")
        return time.perf_counter() - t0
    finally:
        conn.close()


def ort_session(artifact: str) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1  # what the product uses on 2 cores (cores // 2)
    options.inter_op_num_threads = 1
    return ort.InferenceSession(artifact, options, providers=["CPUExecutionProvider"])


@contextlib.contextmanager
def returning_inserts() -> Any:
    """Diagnostic: the product's ingest with db/bulk.py swapped back for the INSERT … RETURNING executemany
    (``sort_by_parameter_order=True``) it replaced, so the before of that change is measured in the same run."""
    from sqlalchemy import insert

    from reviewqueue.db import bulk

    def insert_with_ids(conn: Any, table: Any, rows: list[dict[str, Any]]) -> list[int]:
        if not rows:
            return []
        statement = insert(table).returning(table.c.id, sort_by_parameter_order=True)
        return list(conn.execute(statement, list(rows)).scalars())

    def insert_many(conn: Any, table: Any, rows: list[dict[str, Any]]) -> None:
        if rows:
            conn.execute(insert(table), list(rows))

    saved = bulk.insert_with_ids, bulk.insert_many
    bulk.insert_with_ids, bulk.insert_many = insert_with_ids, insert_many  # type: ignore[assignment]
    try:
        yield
    finally:
        bulk.insert_with_ids, bulk.insert_many = saved


def row_counts(ctx: Any) -> dict[str, int]:
    from sqlalchemy import text

    with ctx.engine.connect() as conn:
        return {t: int(conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one())
                for t in ("predictions", "review_items", "decisions", "outbox_actions")}


def main() -> None:
    p = c.parser(__doc__.splitlines()[0])
    p.add_argument("--batches", default="1000,10000")
    p.add_argument("--backends", default="pg,sqlite")
    p.add_argument("--diagnostics", action="store_true",
                   help="also run the INSERT … RETURNING variant (the bulk-insert path before COPY/executemany)")
    args = p.parse_args()
    url_pg = c.pg_url_checked(args.pg_url)
    info = c.machine(url_pg)
    c.print_machine(info)
    from reviewqueue.domain.states import Role
    from reviewqueue.services import ingest
    from reviewqueue.services.auth import Actor

    system = Actor(0, "bench", Role.INTEGRATION, ())
    trained = c.trained_fraud()
    pool = feature_pool()
    batches = [int(b) for b in args.batches.split(",") if b]
    results: dict[str, Any] = {"machine": info, "args": vars(args) | {"out": str(args.out)}, "backends": {}}
    summary_rows = []
    sqlite_path = (c.TMP / "ingest" / "ingest.db").resolve()
    artifacts = (c.TMP / "ingest" / "artifacts").resolve()
    counter = itertools.count()
    for backend in [b for b in args.backends.split(",") if b]:
        c.console.rule(f"ingest on {backend}")
        def setup(backend: str = backend) -> tuple[str, Any, int]:
            if backend == "pg":
                c.reset_pg(url_pg)
                url = url_pg
            else:
                url = c.reset_sqlite(sqlite_path)
            ctx = c.make_ctx(url, artifacts)
            version_id = c.install_version(ctx, c.trained_fraud())
            ingest.ingest(ctx, system, "fraud", make_events(200, "warm", pool))  # model loaded, statements cached
            if backend == "pg":
                # Autovacuum is off on this server. With no statistics at all, the generic plan psycopg's
                # prepared idempotency lookup gets after 5 executions filters every stored prediction against
                # a 900-item IN list (seconds per batch once the table holds ~20k rows), which autoanalyze
                # prevents in production; statistics from the warm-up batch scale with the table's size.
                c.vacuum_analyze(url, "predictions", "review_items", "decisions", "outbox_actions")
            return url, ctx, version_id

        url, ctx, version_id = c.retry(f"setup {backend}", setup, url_pg)
        spec = ctx.registry.model("fraud")
        session = ort_session(str(artifacts / "fraud" / str(trained["version"]) / "model.onnx"))
        backend_res: dict[str, Any] = {}

        def one(variant: str, batch: int, r: int, backend: str = backend, url: str = url, ctx: Any = ctx,
                version_id: int = version_id, spec: Any = spec, session: Any = session) -> dict[str, Any]:
            events = make_events(batch, f"b{batch}r{r}{variant}{next(counter)}", pool)
            if variant in ("product", "returning"):
                before = row_counts(ctx)
                with returning_inserts() if variant == "returning" else contextlib.nullcontext():
                    t0 = time.perf_counter()
                    ingest.ingest(ctx, system, "fraud", events)
                    seconds = time.perf_counter() - t0
                after = row_counts(ctx)
                written = {k: after[k] - before[k] for k in after}
                return {"variant": variant, "repeat": r, "seconds": seconds, "rows_per_s": batch / seconds,
                        "written": written}
            matrix = spec.features.encode([e["features"] for e in events])
            name = session.get_inputs()[0].name
            t0 = time.perf_counter()
            scores = np.asarray(session.run(None, {name: matrix})[-1])[:, 1]
            ort_s = time.perf_counter() - t0
            rows = bare_rows(events, scores, version_id, spec.routing)
            if variant == "same_rows":
                same_s = (same_rows_pg(c.psycopg_dsn(url), rows) if backend == "pg"
                          else same_rows_sqlite(sqlite_path, rows))
                return {"variant": variant, "repeat": r, "seconds": same_s + ort_s,
                        "rows_per_s": batch / (same_s + ort_s)}
            ins_s = bare_pg(c.psycopg_dsn(url), rows) if backend == "pg" else bare_sqlite(sqlite_path, rows)
            return {"variant": "bare", "repeat": r, "insert_seconds": ins_s, "ort_seconds": ort_s,
                    "insert_rows_per_s": batch / ins_s, "ort_rows_per_s": batch / ort_s,
                    "incl_scoring_rows_per_s": batch / (ins_s + ort_s)}

        for batch in batches:
            runs: list[dict[str, Any]] = []
            for r in range(args.repeats):
                variants = ["product", "bare", "same_rows"] + (["returning"] if args.diagnostics else [])
                for variant in c.rotate(variants, r):
                    last = c.retry(f"{backend} {batch} {variant} repeat {r}",
                                   lambda variant=variant, batch=batch, r=r: one(variant, batch, r), url_pg)
                    runs.append(last)
                    c.console.print(f"[dim]  {backend} batch {batch:>6,} repeat {r} {variant:9s} "
                                    + (f"{last['rows_per_s']:9.0f} rows/s" if variant != "bare" else
                                       f"insert {last['insert_rows_per_s']:9.0f} rows/s  ORT "
                                       f"{last['ort_rows_per_s']:9.0f} rows/s") + "[/dim]")
            prod = [x for x in runs if x["variant"] == "product"]
            bare = [x for x in runs if x["variant"] == "bare"]
            written = prod[-1]["written"]
            s = {
                "product_rows_per_s": c.med(x["rows_per_s"] for x in prod),
                "bare_insert_rows_per_s": c.med(x["insert_rows_per_s"] for x in bare),
                "bare_ort_rows_per_s": c.med(x["ort_rows_per_s"] for x in bare),
                "bare_incl_scoring_rows_per_s": c.med(x["incl_scoring_rows_per_s"] for x in bare),
                "rows_written_per_event": sum(written.values()) / batch,
                "written": written,
            }
            s["same_rows_rows_per_s"] = c.med(x["rows_per_s"] for x in runs if x["variant"] == "same_rows")
            s["pct_of_same_rows"] = 100 * c.ratio(s["product_rows_per_s"], s["same_rows_rows_per_s"])
            s["pct_of_bare_insert"] = 100 * c.ratio(s["product_rows_per_s"], s["bare_insert_rows_per_s"])
            s["pct_of_bare_incl_scoring"] = 100 * c.ratio(s["product_rows_per_s"], s["bare_incl_scoring_rows_per_s"])
            befores = [x for x in runs if x["variant"] == "returning"]
            if befores:
                s["returning_rows_per_s"] = c.med(x["rows_per_s"] for x in befores)
                s["returning_pct_of_bare_incl_scoring"] = 100 * c.ratio(s["returning_rows_per_s"],
                                                                        s["bare_incl_scoring_rows_per_s"])
            backend_res[str(batch)] = {"runs": runs, "summary": s}
            summary_rows.append([f"{backend} × {batch:,}", s["product_rows_per_s"], s["bare_insert_rows_per_s"],
                                 s["bare_ort_rows_per_s"], s["bare_incl_scoring_rows_per_s"],
                                 s["pct_of_bare_incl_scoring"], s["pct_of_bare_insert"], s["rows_written_per_event"],
                                 s["same_rows_rows_per_s"], s["pct_of_same_rows"],
                                 c.verdict(s["pct_of_bare_incl_scoring"] >= 40)])
            if "returning_rows_per_s" in s:
                summary_rows.append(["  ↳ before (RETURNING)",
                                     s["returning_rows_per_s"], s["bare_insert_rows_per_s"], s["bare_ort_rows_per_s"],
                                     s["bare_incl_scoring_rows_per_s"], s["returning_pct_of_bare_incl_scoring"],
                                     100 * c.ratio(s["returning_rows_per_s"], s["bare_insert_rows_per_s"]),
                                     s["rows_written_per_event"], None, None, "(diagnostic)"])
        ctx.engine.dispose()
        results["backends"][backend] = backend_res
    c.table(f"batch ingest, rows/s, median of {args.repeats}",
            ["backend × batch", "product", "bare insert", "bare ORT", "bare insert+ORT", "% of bare incl. scoring",
             "% of bare insert", "rows written / event", "same rows bare + ORT", "% of same rows", "≥ 40%"],
            summary_rows)
    results["targets"] = {"ge_40pct": all(r[5] >= 40 for r in summary_rows if r[-1] != "(diagnostic)")}
    c.save("ingest", results, args.out)


if __name__ == "__main__":
    main()
