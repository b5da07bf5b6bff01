"""Claim next through the HTTP API on PostgreSQL vs a bare FastAPI endpoint running the same claim SQL.

Both are uvicorn subprocesses on 127.0.0.1 with the same worker count and flags; load comes from wrk
(one thread, ``--connections`` keep-alive connections, closed loop) or, without wrk, an httpx thread pool.
The product request is the real one: bearer-token authentication, lease sweep + claim (one transaction),
then the item view with its leave-one-out explanation (one ORT call) and the pydantic response.
Claims are counted in the database (items that became ``claimed``), not from HTTP status codes. A reviewer holds
at most one live claim (a repeated claim returns the held item), so product requests rotate through
``--reviewers`` reviewers' tokens; the bare endpoint runs the product's captured claim statement.

    .venv/bin/python bench/claim_http.py                 # 2 worker processes (SO_REUSEPORT), 16 connections
    .venv/bin/python bench/claim_http.py --workers 1,2 --launcher reviewqueue   # `reviewqueue api --workers N`
    .venv/bin/python bench/claim_http.py --workers 1,2 --launcher uvicorn   # `uvicorn --workers N` (Nagle stall)
"""

from __future__ import annotations

import secrets
import sys
import time
from typing import Any

import common as c
from claim import capture_claim_sql

TOKEN_PREFIX = "rq_benchtok_"


class ProductCli(c.Server):
    """The product served as operators serve it, ``reviewqueue api --workers N`` (reviewqueue/api/serve.py), for
    ``--launcher reviewqueue``. bench/common.py's Server only knows the uvicorn and reuseport launchers; this start()
    is its uvicorn branch with the CLI's argv (one supervising process, quiet logs as in the other launchers)."""

    def start(self, health: str = "/healthz", timeout: float = 90.0) -> ProductCli:
        import httpx
        from reviewqueue_dev.processes import Child, wait_http

        from reviewqueue.api.serve import APP

        assert self.app == APP, "`reviewqueue api` serves only the product app"
        c.TMP.mkdir(parents=True, exist_ok=True)
        argv = [sys.executable, "-m", "reviewqueue.cli", "api", "--host", "127.0.0.1", "--port", str(self.port),
                "--workers", str(self.workers), "--log-level", "warning", "--no-access-log"]
        child = Child(f"{self.name}-0", argv, self.env, c.TMP / "logs" / f"{self.name}-0.log").start()
        self.children.append(child)
        wait_http(self.url + health, child, timeout=timeout)
        if self.workers > 1:  # every worker process must have imported the app before load starts (as Server)
            time.sleep(3.0)
            for _ in range(8 * self.workers):
                httpx.get(self.url + health, timeout=10)
        return self


def seed_reviewers(url: str, n: int) -> None:
    """n reviewers of the fraud queue with API tokens rq_benchtok_1 … rq_benchtok_n (SHA-256 stored, as the product)."""
    c.pg_exec(url,
              "INSERT INTO principals (name, role, queues, created_at, disabled) "
              "SELECT 'bench-reviewer-' || g, 'reviewer', '[\"fraud\"]', now(), false "
              "FROM generate_series(1, %(n)s::int) g", params={"n": n})
    c.pg_exec(url,
              "INSERT INTO api_tokens (principal_id, token_hash, label, created_at, revoked) "
              "SELECT p.id, encode(sha256(convert_to(%(prefix)s || substring(p.name from 16), 'UTF8')), 'hex'), "
              "'bench', now(), false FROM principals p WHERE p.name LIKE 'bench-reviewer-%%'",
              params={"prefix": TOKEN_PREFIX})


def restore(url: str) -> int:
    claimed = int(c.pg_scalar(url, "SELECT count(*) FROM review_items WHERE status = 'claimed'"))
    c.pg_exec(url, "UPDATE review_items SET status = 'pending', claimed_by = NULL, lease_token = NULL, "
                   "lease_expires_at = NULL WHERE status = 'claimed'", "VACUUM (ANALYZE) review_items")
    return claimed


def main() -> None:
    p = c.parser(__doc__.splitlines()[0])
    p.add_argument("--items", type=int, default=50_000, help="pending items (restored after each run)")
    p.add_argument("--workers", default="2", help="uvicorn worker counts to test, comma separated")
    p.add_argument("--connections", type=int, default=16)
    p.add_argument("--reviewers", type=int, default=20_000,
                   help="reviewers whose tokens the product requests rotate through (a reviewer holds one live claim)")
    p.add_argument("--seconds", type=float, default=8.0, help="load duration per run")
    p.add_argument("--launcher", default="reuseport", choices=["uvicorn", "reuseport", "reviewqueue"],
                   help="N SO_REUSEPORT servers (bench/serve.py); `uvicorn --workers N` (uvicorn 0.54 then stalls "
                        "~40 ms per response: see BENCHMARKS.md); or the product as `reviewqueue api --workers N` "
                        "against the bare endpoint on N SO_REUSEPORT servers")
    args = p.parse_args()
    url = c.pg_url_checked(args.pg_url)
    info = c.machine(url)
    c.print_machine(info)

    artifacts = (c.TMP / "claim_http" / "artifacts").resolve()

    def build() -> tuple[Any, str]:
        c.reset_pg(url)
        ctx = c.make_ctx(url, artifacts)
        version_id = c.install_version(ctx, c.trained_fraud())
        reviewer, token = c.principal(ctx, "bench-reviewer", "reviewer", ["fraud"], token=True)
        ctx.engine.dispose()
        seed_reviewers(url, args.reviewers)
        c.seed_items_pg(url, version_id, args.items)
        c.vacuum_analyze(url, "predictions", "review_items", "principals", "api_tokens", "model_versions")
        return reviewer, token

    reviewer, token = c.retry("build", build, url)
    claim_sql = c.retry("capture", lambda: capture_claim_sql(url), url)

    product_env = c.bench_env({
        "REVIEWQUEUE_ENVIRONMENT": "test", "REVIEWQUEUE_DATABASE_URL": url,
        "REVIEWQUEUE_ARTIFACT_DIR": str(artifacts), "REVIEWQUEUE_MODEL_MODULES": '["models.fraud"]',
    })
    bare_env = c.bench_env({"RQ_BENCH_BARE_DSN": c.psycopg_dsn(url), "RQ_BENCH_BARE_PRINCIPAL": str(reviewer.id),
                            "RQ_BENCH_CLAIM_SQL": claim_sql.to_json()})
    scripts = {"bare": c.wrk_script("POST", "/claim/fraud", {})}

    def product_script() -> str:
        """Each request claims as the next of ``--reviewers`` reviewers (one live claim per reviewer)."""
        offset = secrets.randbelow(args.reviewers)
        return (f'wrk.method = "POST"\nwrk.path = "/v1/queues/fraud/claim"\nlocal n = {offset}\n'
                "request = function()\n  n = n + 1\n"
                f'  return wrk.format(nil, nil, {{["Authorization"] = "Bearer {TOKEN_PREFIX}" .. '
                f"(n % {args.reviewers} + 1)}}, nil)\nend\n" + c.WRK_DONE)

    def fallback(variant: str, base: str) -> Any:
        if variant == "product":
            return lambda conns, secs: c.httpx_load(
                lambda cl, n: cl.post(base + "/v1/queues/fraud/claim",
                                      headers={"Authorization": f"Bearer {TOKEN_PREFIX}{n % args.reviewers + 1}"}),
                conns, secs)
        return lambda conns, secs: c.httpx_load(lambda cl, _n: cl.post(base + "/claim/fraud"), conns, secs)

    results: dict[str, Any] = {"machine": info, "args": vars(args) | {"out": str(args.out)}, "workers": {}}
    for workers in [int(w) for w in args.workers.split(",") if w]:
        c.console.rule(f"{workers} worker(s) ({args.launcher}), {args.connections} connections")
        product_server = ProductCli if args.launcher == "reviewqueue" else c.Server
        # The bare baseline has no CLI: under "reviewqueue" it runs on bench/serve.py, which has no stall either.
        bare_launcher = "reuseport" if args.launcher == "reviewqueue" else args.launcher
        servers = {
            "product": product_server("api-product", "reviewqueue.api.main:app", product_env, workers, args.launcher),
            "bare": c.Server("api-bare", "bare_app:app", bare_env, workers, bare_launcher),
        }
        runs: list[dict[str, Any]] = []
        try:
            for s in servers.values():
                s.start()
            for variant, s in servers.items():  # warm-up: sessions loaded, statements prepared, pools filled
                c.run_load(s.url, product_script() if variant == "product" else scripts[variant],
                           args.connections, 2, fallback(variant, s.url))
                c.retry("restore", lambda: restore(url), url)
            for r in range(args.repeats):
                for variant in c.rotate(list(servers), r):
                    s = servers[variant]

                    def one(variant: str = variant, s: Any = s) -> tuple[Any, int]:
                        script = product_script() if variant == "product" else scripts[variant]
                        load = c.checked(c.run_load(s.url, script, args.connections, args.seconds,
                                                    fallback(variant, s.url)))
                        return load, restore(url)

                    load, claimed = c.retry(f"{variant} repeat {r}", one, url, on_retry=lambda: restore(url))
                    res = {"variant": variant, "repeat": r, **load.as_dict(), "claimed": claimed,
                           "claims_per_s": claimed / load.seconds}
                    runs.append(res)
                    c.console.print(f"[dim]  repeat {r} {variant:8s} {res['claims_per_s']:8.0f} claims/s  "
                                    f"p50 {load.p50_ms:.1f} ms  p99 {load.p99_ms:.1f} ms  "
                                    f"requests {load.requests}  errors {load.errors}[/dim]")
        finally:
            for s in servers.values():
                s.stop()
        summary = {}
        for v in ("bare", "product"):
            mine = [x for x in runs if x["variant"] == v]
            summary[v] = {k: c.med(x[k] for x in mine) for k in ("claims_per_s", "p50_ms", "p90_ms", "p99_ms")}
            summary[v]["errors"] = sum(x["errors"] for x in mine)
        for v in summary:
            summary[v]["ratio_to_bare"] = c.ratio(summary[v]["claims_per_s"], summary["bare"]["claims_per_s"])
        results["workers"][str(workers)] = {"runs": runs, "summary": summary}
        c.table(f"claim via HTTP, {workers} worker(s) ({args.launcher}), {args.connections} connections, "
                f"{args.items:,} pending, "
                f"median of {args.repeats}", ["variant", "claims/s", "× bare", "p50 ms", "p90 ms", "p99 ms", "errors"],
                [[v, summary[v]["claims_per_s"], summary[v]["ratio_to_bare"], summary[v]["p50_ms"],
                  summary[v]["p90_ms"], summary[v]["p99_ms"], summary[v]["errors"]] for v in ("bare", "product")])
    best = max(results["workers"].values(), key=lambda w: w["summary"]["product"]["claims_per_s"])
    results["targets"] = {"product_claims_per_s": best["summary"]["product"]["claims_per_s"],
                          "ge_1000": best["summary"]["product"]["claims_per_s"] >= 1000}
    c.table("target", ["target", "value", "met"], [
        ["claim via HTTP ≥ 1,000 claims/s (PG)", results["targets"]["product_claims_per_s"],
         c.verdict(results["targets"]["ge_1000"])]])
    c.save("claim_http", results, args.out)


if __name__ == "__main__":
    t0 = time.perf_counter()
    main()
    c.console.print(f"[dim]wall {time.perf_counter() - t0:.0f} s[/dim]")
