"""Migration 0015 in isolation: the product's own ingest with the decision indexes every decision entered (before)
and with the partial ones only people's decisions enter (after), on one database, variants alternating.

Both variants run the same code on the same tables; only ``ix_decisions_item_id`` and ``ix_decisions_actor`` are
dropped and created again between rounds (full: as migrations 0001/0009 made them; partial: as 0015 does). Each
round times single events (``services.ingest.ingest`` one event per call, in process, the path an HTTP request
takes minus HTTP) and batches of 1,000. The product is compared with itself, so no bare floor is needed; the
machine's drift hits both variants, which take turns.

    .venv/bin/python bench/decision_indexes.py
    .venv/bin/python bench/decision_indexes.py --backends sqlite --repeats 8
"""

from __future__ import annotations

import json
import time
from typing import Any

import common as c
import predict_http as ph

VARIANTS = ("full", "partial")
INDEXES = {
    "full": ("CREATE INDEX ix_decisions_item_id ON decisions (item_id)",
             "CREATE INDEX ix_decisions_actor ON decisions (actor, id)"),
    "partial": ("CREATE INDEX ix_decisions_item_id ON decisions (item_id) WHERE item_id IS NOT NULL",
                "CREATE INDEX ix_decisions_actor ON decisions (actor, id) WHERE source = 'reviewer'"),
}


def use(ctx: Any, variant: str) -> None:
    from sqlalchemy import text

    with ctx.engine.begin() as conn:
        for name in ("ix_decisions_item_id", "ix_decisions_actor"):
            conn.execute(text(f"DROP INDEX IF EXISTS {name}"))
        for statement in INDEXES[variant]:
            conn.execute(text(statement))


def events(tag: str, start: int, n: int) -> list[dict[str, Any]]:
    return [json.loads(ph.body(tag, i))["events"][0] for i in range(start, start + n)]


def round_of(ctx: Any, integration: Any, tag: str, singles: int, batches: int) -> dict[str, float]:
    from reviewqueue.services import ingest

    one = events(f"{tag}-s", 0, singles)
    latencies = []
    for event in one:
        t0 = time.perf_counter()
        ingest.ingest(ctx, integration, "fraud", [event])
        latencies.append(time.perf_counter() - t0)
    rates = []
    for b in range(batches):
        batch = events(f"{tag}-b{b}", 0, 1000)
        t0 = time.perf_counter()
        ingest.ingest(ctx, integration, "fraud", batch)
        rates.append(len(batch) / (time.perf_counter() - t0))
    return {"single_p50_us": c.pct(latencies, 50) * 1e6, "single_mean_us": sum(latencies) / len(latencies) * 1e6,
            "batch_rows_per_s": c.med(rates)}


def run_backend(backend: str, args: Any, trained: dict[str, Any]) -> list[dict[str, Any]]:
    from reviewqueue.services import auth

    url = args.pg_url if backend == "pg" else f"sqlite:///{(c.TMP / 'decision_indexes' / 'db.sqlite').resolve()}"
    artifacts = (c.TMP / "decision_indexes" / "artifacts").resolve()
    token, _spec, _version = ph.build(backend, url, artifacts, trained)
    ctx = c.make_ctx(url, artifacts)
    integration = auth.authenticate(ctx, token)
    round_of(ctx, integration, "warm", 300, 2)  # ORT session, caches, some rows
    runs = []
    for r in range(args.repeats):
        for variant in c.rotate(list(VARIANTS), r):
            use(ctx, variant)
            res = round_of(ctx, integration, f"{variant}{r}", args.singles, args.batches)
            runs.append({"backend": backend, "variant": variant, "repeat": r, **res})
            c.console.print(f"[dim]  {backend} repeat {r} {variant:7s} single p50 {res['single_p50_us']:.0f} µs  "
                            f"mean {res['single_mean_us']:.0f} µs  batch {res['batch_rows_per_s']:,.0f} rows/s[/dim]")
    ctx.engine.dispose()
    return runs


def paired_ratios(runs: list[dict[str, Any]], key: str) -> list[float]:
    by_round: dict[int, dict[str, float]] = {}
    for x in runs:
        by_round.setdefault(x["repeat"], {})[x["variant"]] = x[key]
    return [r["partial"] / r["full"] for r in by_round.values() if {"partial", "full"} <= set(r)]


def spread(ratios: list[float]) -> str:
    return f"{c.pct(ratios, 50):.3f} [{c.pct(ratios, 25):.3f}–{c.pct(ratios, 75):.3f}]"


def main() -> None:
    p = c.parser(__doc__.splitlines()[0])
    p.add_argument("--backends", default="pg,sqlite")
    p.add_argument("--singles", type=int, default=1500, help="single-event calls per round")
    p.add_argument("--batches", type=int, default=4, help="batches of 1,000 per round")
    args = p.parse_args()
    args.pg_url = c.pg_url_checked(args.pg_url)
    info = c.machine(args.pg_url)
    c.print_machine(info)
    trained = c.trained_fraud()
    (c.TMP / "decision_indexes").mkdir(parents=True, exist_ok=True)
    runs: list[dict[str, Any]] = []
    for backend in args.backends.split(","):
        runs += run_backend(backend, args, trained)
    rows, summary = [], {}
    for backend in args.backends.split(","):
        mine = [x for x in runs if x["backend"] == backend]
        medians = {v: {k: c.med(x[k] for x in mine if x["variant"] == v)
                       for k in ("single_p50_us", "single_mean_us", "batch_rows_per_s")} for v in VARIANTS}
        # the machine drifts by more than the effect: compare the two variants within each round (back to back)
        paired = {k: paired_ratios(mine, k) for k in ("single_p50_us", "batch_rows_per_s")}
        summary[backend] = medians | {"paired": paired}
        before, after = medians["full"], medians["partial"]
        rows.append([backend, before["single_p50_us"], after["single_p50_us"], spread(paired["single_p50_us"]),
                     before["batch_rows_per_s"], after["batch_rows_per_s"], spread(paired["batch_rows_per_s"])])
    c.table(f"ingest with full vs partial decision indexes, median of {args.repeats} rounds each; partial ÷ full "
            "within each round: median [quartiles]",
            ["backend", "single p50 µs, full", "partial", "partial ÷ full", "batch rows/s, full", "partial",
             "partial ÷ full"], rows)
    c.save("decision_indexes", {"machine": info, "args": vars(args) | {"out": str(args.out)}, "runs": runs,
                                "summary": summary}, args.out)


if __name__ == "__main__":
    main()
