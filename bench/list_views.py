"""List views at 1M items (overview, keyset item list, dead letters) + claim latency while 1,000-item imports land.

Data (built in SQL with generate_series): ``--items`` review items with their predictions (60% decided, 30%
pending, 0.1% claimed), a quarter of them decided with a fraud verdict's four outbox actions each
(98.5% done, 1% pending, 0.5% dead).

Views: the product's service functions (services.queue.overview / list_items, services.outbox.list_actions /
counts) with an admin actor, vs the very SQL they send (captured from the engine) run through bare psycopg.
Each statement is then EXPLAIN (ANALYZE, VERBOSE, BUFFERS)-ed: no sequential scan of a big table, and no payload
column (features, context, payload, params, outcome) in any plan node's output.

Claim during import: 4 claimer threads (items.claim_next_item through the product engine) run before and
while a separate process ingests ``--imports`` batches of 1,000 uncertain events (each becomes a pending item).

    .venv/bin/python bench/list_views.py                    # 1M items
    .venv/bin/python bench/list_views.py --items 100000
"""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from typing import Any

import common as c

STATUS_SQL = ("CASE WHEN g % 1000 = 7 THEN 'claimed' WHEN g % 10 < 6 THEN 'decided' ELSE 'pending' END")
PAYLOAD_COLUMNS = {"features", "context", "payload", "params", "outcome"}
BIG_TABLES = {"review_items", "outbox_actions", "predictions", "decisions"}


def build(url: str, version_id: int, n: int, reviewer_id: int) -> None:
    import outbox as ob  # the backlog SQL (decisions + four actions each)

    c.seed_items_pg(url, version_id, n, status_sql=STATUS_SQL.replace("%", "%%"))
    c.pg_exec(url,
              "UPDATE review_items SET claimed_by = %(r)s, lease_token = md5(id::text), "
              "lease_expires_at = now() + interval '1 day' WHERE status = 'claimed'",
              params={"r": reviewer_id})
    c.pg_exec(url,
              "INSERT INTO decisions (prediction_id, item_id, verdict, source, actor, note, created_at) "
              "SELECT prediction_id, id, 'fraud', 'reviewer', 'bench', '', created_at FROM review_items "
              "WHERE status = 'decided' AND id % 12 < 5")  # 5/12 of 60% = a quarter of all items
    c.pg_exec(url, ob.ACTIONS_SQL, params={"salt": "lv", "now": datetime.now(UTC), "after": 0})
    c.pg_exec(url,
              "UPDATE outbox_actions SET status = CASE WHEN abs(hashtext(id)) % 200 = 0 THEN 'dead' "
              "WHEN abs(hashtext(id)) % 100 = 1 THEN 'pending' ELSE 'done' END, "
              "attempts = 1, done_at = created_at + interval '1 second'")
    c.pg_exec(url, "UPDATE outbox_actions SET done_at = NULL, attempts = 8, last_error = 'RetryableDeliveryError: "
                   "bench' WHERE status = 'dead'")
    c.pg_exec(url, "UPDATE outbox_actions SET done_at = NULL, attempts = 0 WHERE status = 'pending'")
    c.vacuum_analyze(url, "predictions", "review_items", "decisions", "outbox_actions", "principals", "api_tokens",
                     "model_versions")


class Capture:
    """Collect the (SQL, parameters) an engine sends while a block runs."""

    def __init__(self, engine: Any) -> None:
        from sqlalchemy import event

        self.engine = engine
        self.statements: list[tuple[str, Any]] = []
        self.active = False
        event.listen(engine, "before_cursor_execute", self._before)

    def _before(self, _conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, _many: bool) -> None:
        if self.active and not statement.lstrip().upper().startswith("SELECT 1"):  # not the pool's pre-ping
            self.statements.append((statement, parameters))

    def run(self, fn: Any) -> list[tuple[str, Any]]:
        self.statements = []
        self.active = True
        try:
            fn()
        finally:
            self.active = False
        return list(self.statements)


def time_calls(fn: Any, calls: int, warm: int = 2) -> list[float]:
    for _ in range(warm):
        fn()
    out = []
    for _ in range(calls):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def explain(dsn: str, statement: str, params: Any) -> dict[str, Any]:
    import psycopg

    with psycopg.connect(dsn) as conn:
        plan = conn.execute("EXPLAIN (ANALYZE, VERBOSE, BUFFERS, FORMAT JSON) " + statement, params).fetchone()[0]  # type: ignore[index]
        conn.rollback()
    plan = plan if isinstance(plan, list) else json.loads(plan)
    top = plan[0]
    nodes: list[str] = []
    seq_scans: list[str] = []
    payload_outputs: set[str] = set()
    indexes: list[str] = []

    def walk(node: dict[str, Any]) -> None:
        kind = node["Node Type"]
        rel = node.get("Relation Name")
        label = kind + (f" using {node['Index Name']}" if "Index Name" in node else "") + (f" on {rel}" if rel else "")
        nodes.append(label)
        if "Index Name" in node:
            indexes.append(node["Index Name"])
        if kind == "Seq Scan" and rel in BIG_TABLES:
            seq_scans.append(rel)
        for col in node.get("Output", []):
            bare_col = col.split(".")[-1].strip('"')
            if bare_col in PAYLOAD_COLUMNS:
                payload_outputs.add(col)
        for child in node.get("Plans", []):
            walk(child)

    walk(top["Plan"])
    return {"execution_ms": top["Execution Time"], "planning_ms": top["Planning Time"], "nodes": nodes,
            "indexes": indexes, "seq_scans_of_big_tables": seq_scans, "payload_columns_read": sorted(payload_outputs),
            "shared_hit": top["Plan"].get("Shared Hit Blocks"), "shared_read": top["Plan"].get("Shared Read Blocks"),
            "ok": not seq_scans and not payload_outputs}


def bare_runner(dsn: str, statements: list[tuple[str, Any]]) -> Any:
    import psycopg

    conn = psycopg.connect(dsn, autocommit=True)

    def run() -> None:
        for sql, params in statements:
            conn.execute(sql, params).fetchall()
    return run, conn


# ------------------------------------------------------------------------------ claim latency during import
UNCERTAIN = {"amount": 40.0, "merchant_category": "grocery", "country_mismatch": True, "account_age_days": 5,
             "card_present": False, "hour": 3, "velocity_1h": 2}


def import_worker(url: str, artifacts: str, batches: int, tag: str) -> None:
    """Runs in a child process: ingest ``batches`` × 1,000 uncertain events, printing the window on stdout."""
    from pathlib import Path

    from reviewqueue.domain.states import Role
    from reviewqueue.services import ingest
    from reviewqueue.services.auth import Actor

    ctx = c.make_ctx(url, Path(artifacts))
    system = Actor(0, "bench-import", Role.INTEGRATION, ())
    ingest.ingest(ctx, system, "fraud", [{"external_id": f"{tag}-warm", "features": UNCERTAIN, "context": {}}])
    print("READY", flush=True)
    sys.stdin.readline()  # the parent says go once its "before" window is measured
    print("START", flush=True)
    items = 0
    for b in range(batches):
        events = [{"external_id": f"{tag}-{b}-{i}", "features": {**UNCERTAIN, "amount": 40.0 + (i % 5) * 0.5},
                   "context": {"charge_id": f"ch_{tag}_{b}_{i}", "user_id": f"u{i}", "currency": "usd"}}
                  for i in range(1000)]
        results = ingest.ingest(ctx, system, "fraud", events)
        items += sum(1 for r in results if r.item_id is not None)
    print(f"END {items}", flush=True)
    ctx.engine.dispose()


def claim_during_import(url: str, artifacts: str, principal_ids: list[int], before_s: float, batches: int
                        ) -> dict[str, Any]:
    from reviewqueue.db import items as item_queries
    from reviewqueue.db.engine import make_engine

    engine = make_engine(url)
    samples: list[tuple[float, float]] = []  # (start time, latency)
    errors: list[BaseException] = []
    lock = threading.Lock()
    stop = threading.Event()

    def claimer(pid: int) -> None:
        try:
            claim_loop(pid)
        except BaseException as exc:  # surfaced (and retried) by the caller
            errors.append(exc)

    def claim_loop(pid: int) -> None:
        mine = []
        for _ in range(5):  # warm: pool connections, prepared statements
            with engine.begin() as conn:
                item_queries.claim_next_item(conn, ["fraud"], pid, secrets.token_hex(16), datetime.now(UTC), 300)
        while not stop.is_set():
            t0 = time.perf_counter()
            with engine.begin() as conn:
                item_queries.claim_next_item(conn, ["fraud"], pid, secrets.token_hex(16), datetime.now(UTC), 300)
            mine.append((t0, time.perf_counter() - t0))
            time.sleep(0.005)  # a reviewer claims, then looks at the item: keep the claimers from saturating
        with lock:
            samples.extend(mine)

    tag = f"imp{secrets.token_hex(3)}"
    child = subprocess.Popen([sys.executable, __file__, "--_import", str(batches), "--_tag", tag,
                              "--_artifacts", artifacts, "--pg-url", url],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=c.ROOT)
    threads = [threading.Thread(target=claimer, args=(pid,)) for pid in principal_ids]
    try:
        assert child.stdout is not None and child.stdin is not None
        line = child.stdout.readline()  # the child has imported everything and loaded the model
        if not line.startswith("READY"):
            raise c.LoadErrors(f"import worker failed: {line!r}")
        for t in threads:
            t.start()
        time.sleep(0.5)
        t_before = time.perf_counter()
        time.sleep(before_s)  # the "before" window: claims only
        child.stdin.write("go\n")
        child.stdin.flush()
        child.stdout.readline()  # START
        t_start = time.perf_counter()
        end_line = child.stdout.readline()
        t_end = time.perf_counter()
        imported = int(end_line.split()[1]) if end_line.startswith("END") else -1
    finally:
        stop.set()
        for t in threads:
            if t.is_alive():
                t.join()
        if child.stdin:
            child.stdin.close()
        child.wait(60)
        engine.dispose()
    if errors:
        raise errors[0]
    if imported < 0:
        raise c.LoadErrors("the import process failed (database restarted?)")
    before = [lat for t0, lat in samples if t_before <= t0 < t_before + before_s]
    during = [lat for t0, lat in samples if t_start <= t0 < t_end]
    return {"items_imported": imported, "import_seconds": t_end - t_start,
            "before": {"claims": len(before), "p50_ms": c.ms(c.pct(before, 50)), "p99_ms": c.ms(c.pct(before, 99))},
            "during": {"claims": len(during), "p50_ms": c.ms(c.pct(during, 50)), "p99_ms": c.ms(c.pct(during, 99))}}


def main() -> None:
    p = c.parser(__doc__.splitlines()[0])
    p.add_argument("--items", type=int, default=1_000_000)
    p.add_argument("--calls", type=int, default=10, help="timed calls per view and repeat")
    p.add_argument("--imports", type=int, default=5, help="batches of 1,000 imported during the claim test")
    p.add_argument("--skip-build", action="store_true", help="reuse the tables of the previous run")
    p.add_argument("--_import", type=int, default=0, help=__import__("argparse").SUPPRESS)
    p.add_argument("--_tag", default="", help=__import__("argparse").SUPPRESS)
    p.add_argument("--_artifacts", default="", help=__import__("argparse").SUPPRESS)
    args = p.parse_args()
    url = c.pg_url_checked(args.pg_url)
    if args._import:
        import_worker(url, args._artifacts, args._import, args._tag)
        return
    info = c.machine(url)
    c.print_machine(info)
    from sqlalchemy import select

    from reviewqueue.db.tables import Principal
    from reviewqueue.services import outbox, queue

    artifacts = (c.TMP / "list_views" / "artifacts").resolve()
    if not args.skip_build:
        t0 = time.perf_counter()

        def build_all() -> Any:
            c.reset_pg(url)
            ctx = c.make_ctx(url, artifacts)
            version_id = c.install_version(ctx, c.trained_fraud())
            c.principal(ctx, "bench-admin", "admin")
            claimers = [c.principal(ctx, f"bench-claimer-{i}", "reviewer", ["fraud"])[0] for i in range(4)]
            build(url, version_id, args.items, claimers[0].id)
            return ctx

        ctx = c.retry("build", build_all, url)
        build_s = time.perf_counter() - t0
        c.console.print(f"[dim]built {args.items:,} items in {build_s:.0f} s[/dim]")
    else:
        build_s = float("nan")
        ctx = c.make_ctx(url, artifacts)
    from reviewqueue.domain.states import Role
    from reviewqueue.services.auth import Actor

    with ctx.engine.connect() as conn:
        rows = conn.execute(select(Principal.id, Principal.name).order_by(Principal.id)).all()  # type: ignore[call-overload]
    ids = {r.name: r.id for r in rows}
    admin = Actor(ids["bench-admin"], "bench-admin", Role.ADMIN, ())
    claimer_ids = [ids[f"bench-claimer-{i}"] for i in range(4)]
    counts = {t: int(c.pg_scalar(url, f"SELECT count(*) FROM {t}")) for t in ("review_items", "outbox_actions")}
    mid_id = int(c.pg_scalar(url, "SELECT id FROM review_items ORDER BY id OFFSET %s LIMIT 1",
                             (counts["review_items"] // 2,)))
    first_dead = outbox.list_actions(ctx, admin, "dead", None, None, 50)
    after_dead = first_dead[-1]["id"] if first_dead else None
    views: dict[str, Any] = {
        "queue overview": lambda: queue.overview(ctx, admin),
        "items, first page": lambda: queue.list_items(ctx, admin, "fraud", None, None, 50),
        "items, page at the middle (keyset)": lambda: queue.list_items(ctx, admin, "fraud", None, mid_id, 50),
        "items, pending, first page": lambda: queue.list_items(ctx, admin, "fraud", "pending", None, 50),
        "items, pending, middle (keyset)": lambda: queue.list_items(ctx, admin, "fraud", "pending", mid_id, 50),
        "items, claimed (rare), first page": lambda: queue.list_items(ctx, admin, "fraud", "claimed", None, 50),
        "dead letters, first page": lambda: outbox.list_actions(ctx, admin, "dead", None, None, 50),
        "dead letters, second page (keyset)": lambda: outbox.list_actions(ctx, admin, "dead", None, after_dead, 50),
        "action counts (Actions page tiles)": lambda: outbox.counts(ctx),
    }
    capture = Capture(ctx.engine)
    dsn = c.psycopg_dsn(url)
    results: dict[str, Any] = {"machine": info, "args": {k: v for k, v in vars(args).items() if not k.startswith("_")}
                               | {"out": str(args.out)}, "build_seconds": build_s, "counts": counts, "views": {}}
    rows_out = []
    def measure(fn: Any) -> dict[str, Any]:
        statements = capture.run(fn)
        run_bare, bare_conn = bare_runner(dsn, statements)
        prod_t: list[float] = []
        bare_t: list[float] = []
        try:
            for r in range(args.repeats):
                for v in c.rotate(["product", "bare"], r):
                    (prod_t if v == "product" else bare_t).extend(time_calls(fn if v == "product" else run_bare,
                                                                             args.calls))
        finally:
            bare_conn.close()
        plans = [explain(dsn, sql, params) for sql, params in statements]
        entry = {"product_ms": c.ms(c.med(prod_t)), "product_p90_ms": c.ms(c.pct(prod_t, 90)),
                 "bare_ms": c.ms(c.med(bare_t)), "statements": [s for s, _ in statements], "plans": plans,
                 "ok": all(pl["ok"] for pl in plans)}
        entry["ratio_to_bare"] = c.ratio(entry["bare_ms"], entry["product_ms"])
        return entry

    for name, fn in views.items():
        entry = c.retry(name, lambda fn=fn: measure(fn), url)
        plans = entry["plans"]
        results["views"][name] = entry
        rows_out.append([name, entry["product_ms"], entry["bare_ms"], entry["product_p90_ms"],
                         ", ".join(sorted({i for pl in plans for i in pl["indexes"]})) or "–",
                         "yes" if all(not pl["seq_scans_of_big_tables"] for pl in plans) else "[red]SEQ SCAN[/red]",
                         "none" if all(not pl["payload_columns_read"] for pl in plans) else "[red]yes[/red]",
                         c.verdict(entry["product_ms"] < 100)])
    c.table(f"list views at {counts['review_items']:,} items / {counts['outbox_actions']:,} actions, "
            f"median ms of {args.repeats}×{args.calls} calls",
            ["view", "product ms", "bare SQL ms", "product p90 ms", "indexes used", "index-only access",
             "payload columns", "< 100 ms"], rows_out)
    for name, entry in results["views"].items():
        for pl in entry["plans"]:
            c.console.print(f"[dim]{name}: {' → '.join(pl['nodes'])} ({pl['execution_ms']:.1f} ms)[/dim]")

    c.console.rule(f"claim latency before / during {args.imports} imports of 1,000 items")
    claim_runs = []
    for r in range(args.repeats):
        res = c.retry(f"claim during import, repeat {r}",
                      lambda: claim_during_import(url, str(artifacts), claimer_ids, 4.0, args.imports), url)
        claim_runs.append(res)
        c.console.print(f"[dim]  repeat {r}: before p50 {res['before']['p50_ms']:.2f} p99 {res['before']['p99_ms']:.2f}"
                        f" ms · during p50 {res['during']['p50_ms']:.2f} p99 {res['during']['p99_ms']:.2f} ms · "
                        f"{res['items_imported']} items in {res['import_seconds']:.1f} s[/dim]")
        c.retry("restore", lambda: c.pg_exec(
            url, "UPDATE review_items SET status = 'pending', claimed_by = NULL, lease_token = NULL, "
                 "lease_expires_at = NULL WHERE status = 'claimed' AND lease_expires_at < now() + interval '1 hour'",
            "VACUUM (ANALYZE) review_items"), url)
    claim = {w: {k: c.med(x[w][k] for x in claim_runs) for k in ("p50_ms", "p99_ms", "claims")}
             for w in ("before", "during")}
    results["claim_during_import"] = {"runs": claim_runs, "summary": claim}
    c.table("claim latency (4 claimers, product path), median of repeats", ["window", "claims", "p50 ms", "p99 ms"],
            [[w, claim[w]["claims"], claim[w]["p50_ms"], claim[w]["p99_ms"]] for w in ("before", "during")]
            + [["during ÷ before", None, c.ratio(claim["during"]["p50_ms"], claim["before"]["p50_ms"]),
                c.ratio(claim["during"]["p99_ms"], claim["before"]["p99_ms"])]])
    results["targets"] = {"all_views_lt_100ms": all(v["product_ms"] < 100 for v in results["views"].values()),
                          "plans_ok": all(v["ok"] for v in results["views"].values())}
    ctx.engine.dispose()
    c.save("list_views", results, args.out)


if __name__ == "__main__":
    main()
