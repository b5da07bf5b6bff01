"""Claim next on PostgreSQL: 16 concurrent claimers (threads, one connection each) at 10k / 100k / 1M pending items.

Variants, same run, same data, rotated order per repeat:
  bare      the very statement items.claim_next_item sends (captured from the engine at start-up:
            UPDATE … WHERE id = (SELECT … FOR UPDATE SKIP LOCKED) RETURNING id), bare psycopg, own connection
  queries   reviewqueue.db.items.claim_next_item in ``engine.begin()`` on the product's engine (make_engine)
  service   services.queue.claim_in_transaction in ``engine.begin()``: what a claim request runs in the database
            (lease sweep when due, "already holding one?" lookup, the claim, the item view's row), each claim by
            another reviewer of the thread's pool, so the held-item lookup finds nothing, as for a fresh claim

Each run makes ``--claims`` claims (split over the threads) after a short unmeasured warm-up, then the claimed
items go back to pending and the table is vacuumed, so every run starts from the same queue.

    .venv/bin/python bench/claim.py                               # 10k and 100k
    .venv/bin/python bench/claim.py --sizes 10000,100000,1000000  # the full set
"""

from __future__ import annotations

import contextlib
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import common as c

LEASE_SECONDS = 300
VARIANTS = ("bare", "queries", "service")


_SENTINEL_TOKEN = "bench-sentinel-lease-token"
_SENTINEL_PRINCIPAL = 987_654_321  # a principal inserted only inside the rolled-back capture transaction
_SENTINEL_NOW = datetime(2001, 2, 3, 4, 5, 6, tzinfo=UTC)


@dataclass
class ClaimSQL:
    """The product's claim statement exactly as psycopg receives it, with the per-claim parameters located."""

    sql: str
    params: dict[str, Any]
    principal_keys: list[str]
    token_keys: list[str]
    expires_keys: list[str]

    def bind(self, principal_id: int, token: str, expires: datetime) -> dict[str, Any]:
        out = dict(self.params)
        out.update({k: principal_id for k in self.principal_keys})
        out.update({k: token for k in self.token_keys})
        out.update({k: expires for k in self.expires_keys})
        return out

    def to_json(self) -> str:
        import json

        plain = {k: v if isinstance(v, int | float | str) or v is None else str(v) for k, v in self.params.items()}
        return json.dumps({"sql": self.sql, "params": plain,
                           "principal_keys": self.principal_keys, "token_keys": self.token_keys,
                           "expires_keys": self.expires_keys})

    @classmethod
    def from_json(cls, text: str) -> ClaimSQL:
        import json

        return cls(**json.loads(text))


def capture_claim_sql(url: str) -> ClaimSQL:
    """The SQL text and parameters items.claim_next_item sends for one queue on PostgreSQL (compiled once by
    the product and run on the driver cursor), with the per-claim parameters located.

    The bare baseline then executes this very SQL, so it follows the product when the statement changes.
    """
    from reviewqueue.db import items as item_queries
    from reviewqueue.db.engine import make_engine

    engine = make_engine(url)
    sql, defaults = item_queries.CLAIM_FROM_ONE_QUEUE.sql(engine.dialect)
    engine.dispose()
    expires = _SENTINEL_NOW + timedelta(seconds=LEASE_SECONDS)
    params = {**defaults, "queue": "fraud", "principal_id": _SENTINEL_PRINCIPAL, "lease_token": _SENTINEL_TOKEN,
              "expires_at": expires}
    return ClaimSQL(
        sql=sql, params=params,
        principal_keys=[k for k, v in params.items() if v == _SENTINEL_PRINCIPAL and not isinstance(v, bool)],
        token_keys=[k for k, v in params.items() if v == _SENTINEL_TOKEN],
        expires_keys=[k for k, v in params.items() if isinstance(v, datetime) and v == expires],
    )


class Claimer:
    """One thread's claim loop for one variant; ``principal_ids`` is the thread's pool of reviewers."""

    def __init__(self, variant: str, url: str, ctx: Any, principal_ids: list[int], claim_sql: ClaimSQL) -> None:
        self.variant = variant
        self.claim_sql = claim_sql
        self.principal_ids = principal_ids
        self.turn = 0
        self.ctx = ctx
        self.conn: Any = None
        if variant == "bare":
            import psycopg

            self.conn = psycopg.connect(c.psycopg_dsn(url))

    def claim(self) -> int | None:
        principal_id = self.principal_ids[0]
        if self.variant == "bare":
            token = secrets.token_hex(16)
            expires = datetime.now(UTC) + timedelta(seconds=LEASE_SECONDS)
            row = self.conn.execute(self.claim_sql.sql, self.claim_sql.bind(principal_id, token, expires)).fetchone()
            self.conn.commit()
            return row[0] if row else None
        from reviewqueue.db import items as item_queries
        from reviewqueue.services import queue

        with self.ctx.engine.begin() as conn:
            if self.variant == "service":
                self.turn += 1
                reviewer = self.principal_ids[self.turn % len(self.principal_ids)]
                got = queue.claim_in_transaction(self.ctx, conn, reviewer, "fraud")
                return got.item_id if got else None
            row = item_queries.claim_next_item(conn, ["fraud"], principal_id, secrets.token_hex(16), datetime.now(UTC),
                                          LEASE_SECONDS)
        return row.id if row else None

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()


def run_once(variant: str, url: str, principal_ids: list[list[int]], claims: int, warmup: int,
             claim_sql: ClaimSQL) -> dict[str, Any]:
    ctx: Any = None if variant == "bare" else c.make_ctx(url, c.TMP / "claim" / "artifacts",
                                                       lease_seconds=LEASE_SECONDS)
    threads_n = len(principal_ids)
    per_thread = max(1, claims // threads_n)
    latencies: list[list[float]] = [[] for _ in range(threads_n)]
    empty = [0] * threads_n
    errors: list[BaseException] = []
    barrier = threading.Barrier(threads_n + 1)

    def work(i: int) -> None:
        claimer = Claimer(variant, url, ctx, principal_ids[i], claim_sql)
        try:
            for _ in range(warmup):  # connections open, statements prepared, pool filled
                claimer.claim()
            barrier.wait()
            lat = latencies[i]
            for _ in range(per_thread):
                t0 = time.perf_counter()
                got = claimer.claim()
                lat.append(time.perf_counter() - t0)
                if got is None:
                    empty[i] += 1
        except BaseException as exc:  # surface in the main thread
            errors.append(exc)
            barrier.abort()
        finally:
            claimer.close()

    threads = [threading.Thread(target=work, args=(i,), name=f"claimer-{i}") for i in range(threads_n)]
    for t in threads:
        t.start()
    with contextlib.suppress(threading.BrokenBarrierError):  # a claimer failed in warm-up: raised below
        barrier.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    if ctx is not None:
        ctx.engine.dispose()
    if errors:
        raise next((e for e in errors if not isinstance(e, threading.BrokenBarrierError)), errors[0])
    allv = [x for lat in latencies for x in lat]
    return {"variant": variant, "claims": len(allv), "empty": sum(empty), "seconds": wall,
            "claims_per_s": len(allv) / wall, "p50_ms": c.ms(c.pct(allv, 50)), "p90_ms": c.ms(c.pct(allv, 90)),
            "p99_ms": c.ms(c.pct(allv, 99)), "max_ms": c.ms(max(allv))}


def restore(url: str) -> None:
    c.pg_exec(url, "UPDATE review_items SET status = 'pending', claimed_by = NULL, lease_token = NULL, "
                   "lease_expires_at = NULL WHERE status = 'claimed'",
              "VACUUM (ANALYZE) review_items")


def build(url: str, size: int, threads: int, per_thread: int) -> list[list[int]]:
    """Fresh schema, a stand-in model version, a pool of ``per_thread`` reviewers per claimer thread, ``size``
    pending items."""
    c.reset_pg(url)
    c.pg_exec(url, "INSERT INTO model_versions (model_name, version, status, artifact_path, sha256, input_schema,"
                   " data_fingerprint, metrics, lineage, created_at) VALUES ('fraud', 1, 'champion', 'none', "
                   "'none', '{}', 'none', '{}', '{}', now())")
    c.pg_exec(url, "INSERT INTO principals (name, role, queues, created_at, disabled) "
                   "SELECT 'claimer-' || g, 'reviewer', '[\"fraud\"]', now(), false "
                   "FROM generate_series(0, %(n)s::int - 1) g", params={"n": threads * per_thread})
    ids = [int(i) for i in c.pg_scalar(url, "SELECT array_agg(id ORDER BY id) FROM principals "
                                           "WHERE name LIKE 'claimer-%%'")]
    c.seed_items_pg(url, 1, size)
    c.vacuum_analyze(url, "predictions", "review_items", "principals")
    return [ids[t * per_thread:(t + 1) * per_thread] for t in range(threads)]


def explain_claim(url: str, principal_id: int, claim_sql: ClaimSQL) -> dict[str, Any]:
    """EXPLAIN (ANALYZE, BUFFERS) of one claim, rolled back: which index, how many buffers, how long."""
    import json

    import psycopg

    with psycopg.connect(c.psycopg_dsn(url)) as conn:
        plan = conn.execute("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + claim_sql.sql,
                            claim_sql.bind(principal_id, "explain", datetime.now(UTC))).fetchone()[0]  # type: ignore[index]
        conn.rollback()
    plan = plan if isinstance(plan, list) else json.loads(plan)
    top = plan[0]
    nodes: list[str] = []

    def walk(node: dict[str, Any]) -> None:
        label = node["Node Type"] + (f" using {node['Index Name']}" if "Index Name" in node else "")
        nodes.append(label)
        for child in node.get("Plans", []):
            walk(child)

    walk(top["Plan"])
    return {"execution_ms": top["Execution Time"], "planning_ms": top["Planning Time"], "nodes": nodes,
            "shared_hit": top["Plan"].get("Shared Hit Blocks"), "shared_read": top["Plan"].get("Shared Read Blocks")}


def main() -> None:
    p = c.parser(__doc__.splitlines()[0])
    p.add_argument("--sizes", default="10000,100000", help="pending items per run set, comma separated")
    p.add_argument("--threads", type=int, default=16)
    p.add_argument("--claims", type=int, default=4000, help="measured claims per run (all threads together)")
    p.add_argument("--warmup", type=int, default=10, help="unmeasured claims per thread before each run")
    args = p.parse_args()
    variants = VARIANTS
    per_thread = max(args.claims // args.threads, 5) + args.warmup + 5  # a fresh reviewer for every service claim
    url = c.pg_url_checked(args.pg_url)
    info = c.machine(url)
    c.print_machine(info)
    sizes = [int(s) for s in args.sizes.split(",") if s]
    results: dict[str, Any] = {"machine": info, "args": vars(args) | {"out": str(args.out)}, "sizes": {}}
    for size in sizes:
        c.console.rule(f"{size:,} pending items")
        t0 = time.perf_counter()
        principal_ids = c.retry(f"build {size:,}", lambda size=size: build(url, size, args.threads, per_thread), url)
        build_s = time.perf_counter() - t0
        c.console.print(f"[dim]built {size:,} pending items in {build_s:.1f} s[/dim]")
        claim_sql = c.retry("capture", lambda: capture_claim_sql(url), url)
        results["claim_sql"] = " ".join(claim_sql.sql.split())
        plan = c.retry("explain", lambda pids=principal_ids, cs=claim_sql: explain_claim(url, pids[0][0], cs), url)
        runs: list[dict[str, Any]] = []
        for v in variants:  # warm every code path and the buffer cache once, unmeasured
            c.retry(f"warm {v}",
                    lambda v=v, pids=principal_ids, cs=claim_sql: run_once(v, url, pids, args.threads * 5, 2, cs),
                    url, on_retry=lambda: restore(url))
            c.retry("restore", lambda: restore(url), url)
        for r in range(args.repeats):
            for v in c.rotate(variants, r):
                res = c.retry(f"{size:,} {v} repeat {r}",
                              lambda v=v, pids=principal_ids, cs=claim_sql: run_once(v, url, pids, args.claims,
                                                                                     args.warmup, cs),
                              url,
                              on_retry=lambda: restore(url))
                res["repeat"] = r
                runs.append(res)
                c.console.print(f"[dim]  repeat {r} {v:8s} {res['claims_per_s']:8.0f} claims/s  "
                                f"p50 {res['p50_ms']:.2f} ms  p99 {res['p99_ms']:.2f} ms  empty {res['empty']}[/dim]")
                c.retry("restore", lambda: restore(url), url)
        summary = {}
        for v in variants:
            mine = [x for x in runs if x["variant"] == v]
            summary[v] = {k: c.med(x[k] for x in mine) for k in ("claims_per_s", "p50_ms", "p90_ms", "p99_ms")}
        for v in variants:
            summary[v]["ratio_to_bare"] = c.ratio(summary[v]["claims_per_s"], summary["bare"]["claims_per_s"])
        results["sizes"][str(size)] = {"build_seconds": build_s, "explain": plan, "runs": runs, "summary": summary}
        rows = [[v, summary[v]["claims_per_s"], summary[v]["ratio_to_bare"], summary[v]["p50_ms"],
                 summary[v]["p90_ms"], summary[v]["p99_ms"]] for v in variants]
        c.table(f"claim next, {size:,} pending, {args.threads} claimers, median of {args.repeats}",
                ["variant", "claims/s", "× bare", "p50 ms", "p90 ms", "p99 ms"], rows)
        c.console.print(f"[dim]plan: {' → '.join(plan['nodes'])}; one claim {plan['execution_ms']:.2f} ms "
                        f"(planning {plan['planning_ms']:.2f} ms)[/dim]")
    # targets
    smallest, largest = str(sizes[0]), str(sizes[-1])
    q_small = results["sizes"][smallest]["summary"]["queries"]
    q_large = results["sizes"][largest]["summary"]["queries"]
    targets = {
        "ratio_ge_0.8": all(results["sizes"][s]["summary"]["queries"]["ratio_to_bare"] >= 0.8
                            for s in results["sizes"]),
        "p99_le_10ms": all(results["sizes"][s]["summary"]["queries"]["p99_ms"] <= 10 for s in results["sizes"]),
        "p99_largest_over_smallest": c.ratio(q_large["p99_ms"], q_small["p99_ms"]),
    }
    targets["p99_largest_within_20pct"] = targets["p99_largest_over_smallest"] <= 1.2
    results["targets"] = targets
    c.table("targets (queries variant)", ["target", "value", "met"], [
        ["claims/s ≥ 80% of bare (every size)",
         min(results["sizes"][s]["summary"]["queries"]["ratio_to_bare"] for s in results["sizes"]),
         c.verdict(targets["ratio_ge_0.8"])],
        ["p99 ≤ 10 ms (every size)", max(results["sizes"][s]["summary"]["queries"]["p99_ms"]
                                         for s in results["sizes"]), c.verdict(targets["p99_le_10ms"])],
        [f"p99 at {int(largest):,} / p99 at {int(smallest):,} ≤ 1.2", targets["p99_largest_over_smallest"],
         c.verdict(targets["p99_largest_within_20pct"])],
    ])
    c.save("claim", results, args.out)


if __name__ == "__main__":
    main()
