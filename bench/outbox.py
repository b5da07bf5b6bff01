"""Outbox dispatch with a fast connector: reviewqueue's Dispatcher/Worker vs a bare SKIP LOCKED lease loop.

Throughput: a backlog of ``--actions`` pending actions (a fraud verdict's four actions per decision) drained by
  product   reviewqueue.services.outbox.Dispatcher.run_once() in a loop (settings defaults: batch 50,
            8 delivery threads), RecordingConnector for every connector; outcomes recorded in groups (one
            executemany UPDATE per outcome shape in one transaction per group, flushed at 50 outcomes, after
            25 ms, and at the end of the batch)
  bare      one thread: the same lease statement (UPDATE … WHERE id IN (SELECT … FOR UPDATE SKIP LOCKED)
            RETURNING *) with bare psycopg, a no-op delivery, then the same "done" update per action
            (executemany, one commit per batch)
Latency: a producer commits one decision's four actions every 1/``--rate`` s for ``--seconds`` while
  product   reviewqueue.worker.Worker(…, scheduler=False).run() drains (polls every worker_poll_seconds when idle)
  bare      the bare loop, sleeping the same poll interval when idle
at the product's default poll (0.5 s) and at 0.05 s; decision → delivered = done_at − created_at.
With --diagnostics the throughput phase adds the recording the product did before (not product code), for a
before/after on the same machine:
  per_action  the product Dispatcher, but each outcome recorded by its delivery thread in its own
              transaction (checkout, UPDATE, COMMIT per action)

    .venv/bin/python bench/outbox.py
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import common as c

CONNECTORS = ("stripe_refund", "slack_message", "sql", "webhook")
LEASE_SQL = (
    "UPDATE outbox_actions SET status=%(in_flight)s, attempts=(outbox_actions.attempts + 1), "
    "lease_expires_at=%(expires)s, leased_by=%(worker)s WHERE outbox_actions.id IN (SELECT outbox_actions.id "
    "FROM outbox_actions WHERE outbox_actions.status = %(pending)s AND outbox_actions.next_attempt_at <= %(now)s "
    "ORDER BY outbox_actions.next_attempt_at LIMIT %(limit)s FOR UPDATE SKIP LOCKED) "
    "AND outbox_actions.status = %(pending)s RETURNING outbox_actions.id, outbox_actions.decision_id, "
    "outbox_actions.connector, outbox_actions.params, outbox_actions.payload, outbox_actions.status, "
    "outbox_actions.attempts, outbox_actions.outcome_unknown, outbox_actions.next_attempt_at, "
    "outbox_actions.lease_expires_at, outbox_actions.leased_by, outbox_actions.last_error, outbox_actions.outcome, "
    "outbox_actions.created_at, outbox_actions.done_at"
)
DONE_SQL = (
    "UPDATE outbox_actions SET status=%s, outcome=%s, done_at=%s, leased_by=NULL, lease_expires_at=NULL, "
    "last_error=NULL WHERE outbox_actions.id = %s AND outbox_actions.status = %s AND outbox_actions.leased_by = %s"
)
ACTIONS_SQL = """
    INSERT INTO outbox_actions (id, decision_id, connector, params, payload, status, attempts, outcome_unknown,
                                next_attempt_at, created_at)
    SELECT md5(d.id::text || '-' || k.name || '-' || %(salt)s), d.id, k.name, '{}'::json,
           json_build_object('model', 'fraud', 'external_id', p.external_id, 'prediction_id', p.id, 'item_id', NULL,
                             'decision_id', d.id, 'verdict', 'fraud', 'score', p.score, 'source', 'reviewer',
                             'actor', 'bench', 'features', p.features, 'context', p.context),
           'pending', 0, false, %(now)s, %(now)s
    FROM decisions d JOIN predictions p ON p.id = d.prediction_id,
         (VALUES ('stripe_refund'), ('slack_message'), ('sql'), ('webhook')) AS k(name)
    WHERE d.id > %(after)s"""


def seed_backlog(url: str, version_id: int, decisions: int) -> None:
    import psycopg

    c.seed_items_pg(url, version_id, decisions, status_sql="'decided'")
    with psycopg.connect(c.psycopg_dsn(url), autocommit=True) as conn:
        conn.execute("INSERT INTO decisions (prediction_id, item_id, verdict, source, actor, note, created_at) "
                     "SELECT prediction_id, id, 'fraud', 'reviewer', 'bench', '', created_at FROM review_items")
        conn.execute(ACTIONS_SQL, {"salt": "backlog", "now": datetime.now(UTC), "after": 0})  # type: ignore[arg-type]


def reset_backlog(url: str) -> None:
    now = datetime.now(UTC)
    c.pg_exec(url, "UPDATE outbox_actions SET status = 'pending', attempts = 0, leased_by = NULL, "
                   "lease_expires_at = NULL, outcome = NULL, done_at = NULL, last_error = NULL, "
                   "next_attempt_at = %(now)s, created_at = %(now)s", params={"now": now})
    c.pg_exec(url, "VACUUM (ANALYZE) outbox_actions")


class BareLoop:
    """The bare SKIP LOCKED lease loop (one thread, one connection)."""

    def __init__(self, url: str, batch: int = 50, visibility: int = 60) -> None:
        import psycopg

        self.conn = psycopg.connect(c.psycopg_dsn(url))
        self.worker = f"bare-{uuid.uuid4().hex[:6]}"
        self.batch = batch
        self.visibility = visibility

    def run_once(self) -> int:
        now = datetime.now(UTC)
        rows = self.conn.execute(LEASE_SQL, {
            "in_flight": "in_flight", "expires": now + timedelta(seconds=self.visibility), "worker": self.worker,
            "pending": "pending", "now": now, "limit": self.batch}).fetchall()
        self.conn.commit()
        if not rows:
            return 0
        updates = []
        for row in rows:
            done_at = datetime.now(UTC)
            outcome = {"recorded": True, "action_id": row[0]}  # the fast connector's answer
            updates.append(("done", json.dumps(outcome), done_at, row[0], "in_flight", self.worker))
        with self.conn.cursor() as cur:
            cur.executemany(DONE_SQL, updates)
        self.conn.commit()
        return len(rows)

    def close(self) -> None:
        self.conn.close()


def per_action_dispatcher(ctx: Any, connectors: dict[str, Any], worker_id: str) -> Any:
    """Diagnostic: the product's Dispatcher, but recording as it did before grouping: each delivery thread
    writes its action's outcome in its own transaction, with a statement built per call."""
    from reviewqueue.services.outbox import Dispatcher, outbox

    class PerAction(Dispatcher):
        def _deliver_batch(self, batch: list[Any]) -> None:
            list(self._pool.map(self._deliver_and_record, batch))

        def _deliver_and_record(self, row: Any) -> None:
            _, values = self._deliver(row)
            values = {**values, "leased_by": None, "lease_expires_at": None}
            if values["status"] == "pending":
                values["outcome_unknown"] = True
            with self.ctx.engine.begin() as conn:
                conn.execute(outbox.update()
                             .where(outbox.c.id == row.id, outbox.c.status == "in_flight",
                                    outbox.c.leased_by == self.worker_id)
                             .values(**values))

    return PerAction(ctx, connectors, worker_id)


def drain_throughput(variant: str, ctx: Any, url: str, total: int) -> dict[str, Any]:
    from reviewqueue.services.outbox import Dispatcher
    from reviewqueue.testing import RecordingConnector

    connectors = {n: RecordingConnector(n) for n in CONNECTORS}
    worker_id = f"bench-{uuid.uuid4().hex[:6]}"
    if variant == "product":
        runner: Any = Dispatcher(ctx, connectors, worker_id)
    elif variant == "per_action":
        runner = per_action_dispatcher(ctx, connectors, worker_id)
    else:
        runner = BareLoop(url, batch=ctx.settings.outbox_batch_size)
    handled = 0
    t0 = time.perf_counter()
    try:
        while True:
            n = runner.run_once()
            if n == 0:
                break
            handled += n
    finally:
        wall = time.perf_counter() - t0
        runner.close()
    done = int(c.pg_scalar(url, "SELECT count(*) FROM outbox_actions WHERE status = 'done'"))
    if done != total:
        raise RuntimeError(f"{variant}: {done} of {total} actions done after the drain")
    return {"variant": variant, "actions": handled, "seconds": wall, "actions_per_s": handled / wall}


def latency_run(variant: str, ctx_factory: Any, url: str, poll: float, rate: float, seconds: float,
                batch: int) -> dict[str, Any]:
    """Producer commits decisions at ``rate``/s; the consumer drains; latency from the rows."""
    import psycopg

    from reviewqueue.testing import RecordingConnector
    from reviewqueue.worker import Worker

    c.pg_exec(url, "TRUNCATE outbox_actions")
    stop = threading.Event()
    if variant == "product":
        ctx = ctx_factory(poll)
        worker = Worker(ctx, {n: RecordingConnector(n) for n in CONNECTORS}, scheduler=False)
        consumer = threading.Thread(target=worker.run, name="product-worker", daemon=True)
    else:
        ctx = None
        bare = BareLoop(url, batch=batch)

        def loop() -> None:
            try:
                while not stop.is_set():
                    if bare.run_once() == 0:
                        stop.wait(poll)
            finally:
                bare.close()
        consumer = threading.Thread(target=loop, name="bare-worker", daemon=True)
    consumer.start()
    produced = 0
    try:
        with psycopg.connect(c.psycopg_dsn(url)) as conn:
            pred_ids = [r[0] for r in conn.execute("SELECT id FROM predictions ORDER BY id LIMIT 500").fetchall()]
            interval = 1.0 / rate
            t_next = time.perf_counter()
            t_end = t_next + seconds
            i = 0
            while time.perf_counter() < t_end:
                now = datetime.now(UTC)
                did = conn.execute("INSERT INTO decisions (prediction_id, verdict, source, actor, note, created_at) "
                                   "VALUES (%s, 'fraud', 'reviewer', 'bench', '', %s) RETURNING id",
                                   (pred_ids[i % len(pred_ids)], now)).fetchone()[0]  # type: ignore[index]
                conn.execute(ACTIONS_SQL.replace("d.id > %(after)s", "d.id = %(after)s"),
                             {"salt": f"lat{i}", "now": now, "after": did})
                conn.commit()
                produced += len(CONNECTORS)
                i += 1
                t_next += interval
                delay = t_next - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)  # pacing the producer at the requested rate
            deadline = time.perf_counter() + 30
            while time.perf_counter() < deadline:
                left = conn.execute("SELECT count(*) FROM outbox_actions WHERE status <> 'done'").fetchone()[0]  # type: ignore[index]
                conn.commit()
                if left == 0:
                    break
                time.sleep(0.05)  # polling for the drain to finish, with a deadline
            lat = [r[0] for r in conn.execute(
                "SELECT extract(epoch FROM done_at - created_at) FROM outbox_actions WHERE status = 'done'").fetchall()]
    finally:  # the consumer stops even when the database went away mid-run (the run is then retried)
        if variant == "product":
            worker.stop()
        else:
            stop.set()
        consumer.join(30)
        if ctx is not None:
            ctx.engine.dispose()
    lat = [float(x) for x in lat]
    return {"variant": variant, "poll_s": poll, "produced": produced, "delivered": len(lat),
            "p50_ms": c.ms(c.pct(lat, 50)), "p90_ms": c.ms(c.pct(lat, 90)), "p99_ms": c.ms(c.pct(lat, 99)),
            "max_ms": c.ms(max(lat)) if lat else float("nan")}


def main() -> None:
    p = c.parser(__doc__.splitlines()[0])
    p.add_argument("--actions", type=int, default=20_000, help="backlog size for the throughput phase")
    p.add_argument("--rate", type=float, default=50.0, 
                   help="decisions per second in the latency phase (4 actions each)")
    p.add_argument("--seconds", type=float, default=6.0, help="producer duration per latency run")
    from reviewqueue.settings import Settings

    product_poll = Settings.model_fields["worker_poll_seconds"].default
    p.add_argument("--polls", default=f"{product_poll:g},0.5",
                   help="worker_poll_seconds values for the latency phase; the first is the one the targets use "
                        "(default: the product's default, then the previous default 0.5 s)")
    p.add_argument("--batch", type=int, default=None, help="outbox_batch_size for both (default: the product's)")
    p.add_argument("--diagnostics", action="store_true",
                   help="also run the product's previous recording (a transaction per action), for a before/after")
    args = p.parse_args()
    throughput_variants = ["product", "bare"] + (["per_action"] if args.diagnostics else [])
    overrides = {"outbox_batch_size": args.batch} if args.batch else {}
    url = c.pg_url_checked(args.pg_url)
    info = c.machine(url)
    c.print_machine(info)
    artifacts = (c.TMP / "outbox" / "artifacts").resolve()
    decisions = args.actions // len(CONNECTORS)
    total = decisions * len(CONNECTORS)

    def build() -> Any:
        c.reset_pg(url)
        base = c.make_ctx(url, artifacts, **overrides)
        version_id = c.install_version(base, c.trained_fraud())
        seed_backlog(url, version_id, decisions)
        c.vacuum_analyze(url, "predictions", "review_items", "decisions", "outbox_actions")
        return base

    base = c.retry("build", build, url)
    results: dict[str, Any] = {"machine": info, "args": vars(args) | {"out": str(args.out)}}

    c.console.rule(f"throughput: drain {total:,} actions")
    runs = []
    for r in range(args.repeats):
        for v in c.rotate(throughput_variants, r):
            def one(v: str = v) -> dict[str, Any]:
                reset_backlog(url)
                return drain_throughput(v, base, url, total)

            res = c.retry(f"throughput {v} repeat {r}", one, url)
            res["repeat"] = r
            runs.append(res)
            c.console.print(f"[dim]  repeat {r} {v:8s} {res['actions_per_s']:8.0f} actions/s "
                            f"({res['seconds']:.1f} s)[/dim]")
    thr = {v: c.med(x["actions_per_s"] for x in runs if x["variant"] == v) for v in throughput_variants}
    results["throughput"] = {"runs": runs, "summary": thr}

    def ctx_factory(poll: float) -> Any:
        return c.make_ctx(url, artifacts, worker_poll_seconds=poll, **overrides)

    c.console.rule(f"latency: {args.rate:g} decisions/s × {len(CONNECTORS)} actions for {args.seconds:g} s")
    lat_runs = []
    polls = [float(x) for x in args.polls.split(",") if x]
    for r in range(args.repeats):
        for poll in polls:
            for v in c.rotate(["product", "bare"], r):
                def run(v: str = v, poll: float = poll) -> dict[str, Any]:
                    return latency_run(v, ctx_factory, url, poll, args.rate, args.seconds,
                                       base.settings.outbox_batch_size)

                res = c.retry(f"latency {v} poll {poll:g} repeat {r}", run, url)
                res["repeat"] = r
                lat_runs.append(res)
                c.console.print(f"[dim]  repeat {r} poll {poll:g} s {v:8s} p50 {res['p50_ms']:.0f} ms  "
                                f"p99 {res['p99_ms']:.0f} ms  delivered {res['delivered']}/{res['produced']}[/dim]")
    lat: dict[str, Any] = {}
    for poll in polls:
        for v in ("bare", "product"):
            mine = [x for x in lat_runs if x["variant"] == v and x["poll_s"] == poll]
            lat[f"{v}@{poll:g}"] = {k: c.med(x[k] for x in mine) for k in ("p50_ms", "p90_ms", "p99_ms", "max_ms")}
    results["latency"] = {"runs": lat_runs, "summary": lat}
    base.engine.dispose()

    rows = [["throughput: bare", thr["bare"], 1.0, None, None],
            ["throughput: product Dispatcher", thr["product"], c.ratio(thr["product"], thr["bare"]), None, None]]
    if "per_action" in thr:
        rows.append(["throughput: diagnostic, before: a transaction per action", thr["per_action"],
                     c.ratio(thr["per_action"], thr["bare"]), None, None])
    for poll in polls:
        for v in ("bare", "product"):
            s = lat[f"{v}@{poll:g}"]
            rows.append([f"latency: {v}, poll {poll:g} s", None, None, s["p50_ms"], s["p99_ms"]])
    c.table(f"outbox, median of {args.repeats}", ["variant", "actions/s", "× bare", "p50 ms (decision→delivered)",
                                                  "p99 ms"], rows)
    default_poll = f"product@{polls[0]:g}"
    targets = {"actions_per_s_ge_5000": thr["product"] >= 5000,
               "p50_le_100ms": lat[default_poll]["p50_ms"] <= 100, "p99_le_1s": lat[default_poll]["p99_ms"] <= 1000}
    results["targets"] = targets
    c.table(f"targets (latency at the product's poll interval {polls[0]:g} s)", ["target", "value", "met"], [
        ["≥ 5,000 actions/s", thr["product"], c.verdict(targets["actions_per_s_ge_5000"])],
        ["decision→delivered p50 ≤ 100 ms", lat[default_poll]["p50_ms"], c.verdict(targets["p50_le_100ms"])],
        ["decision→delivered p99 ≤ 1 s (ms)", lat[default_poll]["p99_ms"], c.verdict(targets["p99_le_1s"])],
    ])
    c.save("outbox", results, args.out)


if __name__ == "__main__":
    main()
