"""Single prediction over HTTP vs a bare FastAPI pydantic POST endpoint and a bare onnxruntime session.

  product   POST /v1/models/fraud/predictions with one event (unique external_id each request): bearer-token
            authentication, validation, champion lookup, ORT scoring, routing, prediction + decision + outbox
            rows (or a review item) in one commit, pydantic response — uvicorn subprocess, PostgreSQL
  floor     POST /predict/stored on a bare FastAPI app (bench/bare_app.py): the fair floor for a durable
            prediction — the same body validated by an equivalent pydantic model, scored with a bare ORT session,
            ONE INSERT of the result into the same predictions table, committed (same database, same driver)
  rows      POST /predict/stored-rows on the same bare app: the floor writing the rows the product must write for
            the event (the prediction, and the model's decision + its webhook action, or a review item), each a
            plain INSERT, one transaction — how near the product is to what it must store
  bare      POST /predict on the same bare app: validated, a response of the same shape, nothing scored or stored
  ort       one-row session.run on the same model file in this process (no HTTP)
Load: wrk, one thread, 1 connection (low load) and 8 connections, closed loop (without wrk: an httpx thread
pool); variants alternate per repeat. PostgreSQL and SQLite (--backends), each its own fresh database.

    .venv/bin/python bench/predict_http.py
    .venv/bin/python bench/predict_http.py --backends pg --seconds 4 --repeats 2
"""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np

import common as c

EVENTS = [  # three ordinary transactions (auto-pass: decision + webhook action) and one uncertain (review item)
    {"amount": 23.5, "merchant_category": "grocery", "country_mismatch": False, "account_age_days": 900,
     "card_present": True, "hour": 14, "velocity_1h": 0},
    {"amount": 61.0, "merchant_category": "restaurants", "country_mismatch": False, "account_age_days": 1500,
     "card_present": False, "hour": 20, "velocity_1h": 1},
    {"amount": 12.2, "merchant_category": "fuel", "country_mismatch": False, "account_age_days": 300,
     "card_present": True, "hour": 9, "velocity_1h": 0},
    {"amount": 40.0, "merchant_category": "grocery", "country_mismatch": True, "account_age_days": 5,
     "card_present": False, "hour": 3, "velocity_1h": 2},
]


def tail(i: int, features: dict[str, Any]) -> str:
    """Everything after the external_id of a one-event body."""
    ctx = {"charge_id": f"ch_bench_{i}", "user_id": f"u{i}", "currency": "usd"}
    return f'"features":{json.dumps(features)},"context":{json.dumps(ctx)}}}]}}'


def body(tag: str, n: int) -> str:
    return '{"events":[{"external_id":"' + f"{tag}-{n}" + '",' + tail(n % len(EVENTS), EVENTS[n % len(EVENTS)])


def script(path: str, headers: dict[str, str], tag: str) -> str:
    parts = ", ".join(f"[[{tail(i, f)}]]" for i, f in enumerate(EVENTS))
    prelude = f'local tag = "{tag}"\nlocal parts = {{{parts}}}'
    expr = """'{"events":[{"external_id":"' .. tag .. '-' .. n .. '",' .. parts[n % #parts + 1]"""
    return c.wrk_script("POST", path, {**headers, "Content-Type": "application/json"}, body_lua=expr,
                        lua_prelude=prelude)


def bare_ort(artifact: str, spec: Any, calls: int = 3000) -> dict[str, float]:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(artifact, options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    matrix = spec.features.encode([EVENTS[0]])
    for _ in range(200):
        session.run(None, {name: matrix})
    lat = []
    t0 = time.perf_counter()
    for _ in range(calls):
        t = time.perf_counter()
        np.asarray(session.run(None, {name: matrix})[-1])[:, 1]
        lat.append(time.perf_counter() - t)
    wall = time.perf_counter() - t0
    return {"calls_per_s": calls / wall, "p50_ms": c.ms(c.pct(lat, 50)), "p99_ms": c.ms(c.pct(lat, 99))}


def in_process(url: str, artifacts: Any, token: str, calls: int = 300) -> dict[str, float]:
    """Where a request's time goes, without HTTP: the two service calls the route makes, timed in-process."""
    from reviewqueue.services import auth, ingest

    ctx = c.make_ctx(url, artifacts)
    actor = auth.authenticate(ctx, token)
    tag = uuid.uuid4().hex[:8]

    def events(n: int) -> list[dict[str, Any]]:
        return json.loads(body(f"inproc-{tag}", n))["events"]

    for n in range(30):
        ingest.ingest(ctx, actor, "fraud", events(n))
    out = {}
    for name, fn in (("authenticate (token → actor)", lambda n: auth.authenticate(ctx, token)),
                     ("ingest.ingest, 1 event", lambda n: ingest.ingest(ctx, actor, "fraud", events(1000 + n)))):
        lat = []
        for n in range(calls):
            t0 = time.perf_counter()
            fn(n)
            lat.append(time.perf_counter() - t0)
        out[name] = c.ms(c.pct(lat, 50))
    ctx.engine.dispose()
    return out


VARIANTS = ("product", "floor", "rows", "bare")
LABELS = {"product": "product", "floor": "floor", "rows": "floor, same rows", "bare": "bare"}


def build(backend: str, url: str, artifacts: Any, trained: dict[str, Any]) -> tuple[str, Any, int]:
    """An empty database with the product's schema, fraud v1 as champion and an integration token."""
    if backend == "pg":
        c.reset_pg(url)
    else:
        c.reset_sqlite(Path(url.removeprefix("sqlite:///")))
    ctx = c.make_ctx(url, artifacts)
    version_id = c.install_version(ctx, trained)
    _, token = c.principal(ctx, "bench-shop", "integration", token=True)
    ctx.engine.dispose()
    return token, ctx.registry.model("fraud"), version_id


def servers_for(backend: str, url: str, artifacts: Path, artifact: str, version_id: int) -> dict[str, c.Server]:
    database = ({"RQ_BENCH_BARE_DSN": c.psycopg_dsn(url)} if backend == "pg"
                else {"RQ_BENCH_BARE_SQLITE": url.removeprefix("sqlite:///")})
    product_env = c.bench_env({
        "REVIEWQUEUE_ENVIRONMENT": "test", "REVIEWQUEUE_DATABASE_URL": url,
        "REVIEWQUEUE_ARTIFACT_DIR": str(artifacts), "REVIEWQUEUE_MODEL_MODULES": '["models.fraud"]',
    })
    floor_env = c.bench_env({**database, "RQ_BENCH_FLOOR_ARTIFACT": artifact,
                             "RQ_BENCH_FLOOR_VERSION_ID": str(version_id)})
    return {
        "product": c.Server(f"predict-product-{backend}", "reviewqueue.api.main:app", product_env, 1),
        "floor": c.Server(f"predict-floor-{backend}", "bare_app:app", floor_env, 1),
        "rows": c.Server(f"predict-rows-{backend}", "bare_app:app", floor_env, 1),
        "bare": c.Server(f"predict-bare-{backend}", "bare_app:app", c.bench_env({}), 1),
    }


def run_backend(backend: str, args: Any, url: str, trained: dict[str, Any]) -> tuple[dict[str, Any], list[list[Any]],
                                                                                     Any, str, str]:
    artifacts = (c.TMP / f"predict_http_{backend}" / "artifacts").resolve()
    token, spec, version_id = c.retry(f"build {backend}", lambda: build(backend, url, artifacts, trained), url)
    artifact = str(artifacts / "fraud" / str(trained["version"]) / "model.onnx")
    servers = servers_for(backend, url, artifacts, artifact, version_id)
    routes = {"product": ("/v1/models/fraud/predictions", {"Authorization": f"Bearer {token}"}),
              "floor": ("/predict/stored", {}), "rows": ("/predict/stored-rows", {}), "bare": ("/predict", {})}

    def load(variant: str, clients: int, seconds: float) -> c.LoadResult:
        s = servers[variant]
        path, headers = routes[variant]
        tag = uuid.uuid4().hex[:10]

        def fallback(conns: int, secs: float) -> c.LoadResult:
            return c.httpx_load(lambda cl, n: cl.post(s.url + path, content=body(tag, n),
                                                      headers={**headers, "Content-Type": "application/json"}),
                                conns, secs)

        return c.run_load(s.url, script(path, headers, tag), clients, seconds, fallback)

    out: dict[str, Any] = {}
    rows: list[list[Any]] = []
    try:
        for s in servers.values():
            s.start()
        for v in servers:  # warm-up: ORT session loaded, statements prepared
            load(v, 2, 2)
        if backend == "pg" and not args.no_analyze:
            # the warm-up's rows give the planner statistics (this server runs autovacuum off)
            c.vacuum_analyze(url, "predictions", "review_items", "decisions", "outbox_actions")
        for clients in [int(x) for x in args.clients.split(",") if x]:
            c.console.rule(f"{backend}: {clients} client(s)")
            runs = []
            for r in range(args.repeats):
                for v in c.rotate(list(servers), r):
                    res = c.retry(f"{backend} {v} {clients} clients repeat {r}",
                                  lambda v=v, clients=clients: c.checked(load(v, clients, args.seconds)), url)
                    runs.append({"variant": v, "repeat": r, **res.as_dict()})
                    c.console.print(f"[dim]  repeat {r} {v:8s} {res.rps:8.0f} req/s  p50 {res.p50_ms:.2f} ms  "
                                    f"p99 {res.p99_ms:.2f} ms  errors {res.errors}[/dim]")
            summary: dict[str, Any] = {}
            for v in servers:
                mine = [x for x in runs if x["variant"] == v]
                summary[v] = {k: c.med(x[k] for x in mine) for k in ("rps", "p50_ms", "p90_ms", "p99_ms")}
                summary[v]["errors"] = sum(x["errors"] for x in mine)
            for v in ("product", "floor", "rows"):
                summary[v]["ratio_to_bare"] = c.ratio(summary[v]["rps"], summary["bare"]["rps"])
                summary[v]["ratio_to_floor"] = c.ratio(summary[v]["rps"], summary["floor"]["rps"])
            summary["product"]["ratio_to_rows"] = c.ratio(summary["product"]["rps"], summary["rows"]["rps"])
            summary["product"]["p50_over_floor_ms"] = summary["product"]["p50_ms"] - summary["floor"]["p50_ms"]
            summary["product"]["p50_over_bare_ms"] = summary["product"]["p50_ms"] - summary["bare"]["p50_ms"]
            out[str(clients)] = {"runs": runs, "summary": summary}
            for v in ("bare", "floor", "rows", "product"):
                rows.append([f"{backend} · {LABELS[v]}, {clients} client(s)", summary[v]["rps"],
                             summary[v].get("ratio_to_floor"), summary[v].get("ratio_to_rows"),
                             summary[v].get("ratio_to_bare", 1.0), summary[v]["p50_ms"], summary[v]["p99_ms"],
                             summary[v]["errors"]])
    finally:
        for s in servers.values():
            s.stop()
    return out, rows, spec, artifact, token


def main() -> None:
    p = c.parser(__doc__.splitlines()[0])
    p.add_argument("--clients", default="1,8", help="concurrent connections, comma separated")
    p.add_argument("--seconds", type=float, default=8.0)
    p.add_argument("--backends", default="pg,sqlite", help="pg, sqlite or both")
    p.add_argument("--no-analyze", action="store_true",
                   help="no VACUUM (ANALYZE) after the warm-up: the planner works from no statistics, as on a "
                        "server whose autovacuum lags")
    p.add_argument("--no-breakdown", action="store_true", help="skip the in-process timing of the service calls")
    args = p.parse_args()
    url_pg = c.pg_url_checked(args.pg_url)
    info = c.machine(url_pg)
    c.print_machine(info)
    trained = c.trained_fraud()
    results: dict[str, Any] = {"machine": info, "args": vars(args) | {"out": str(args.out)}, "backends": {}}
    rows: list[list[Any]] = []
    targets: dict[str, Any] = {}
    trows = []
    for backend in [b for b in args.backends.split(",") if b]:
        url = url_pg if backend == "pg" else f"sqlite:///{(c.TMP / 'predict_http' / 'predict.db').resolve()}"
        per_clients, brows, spec, artifact, token = run_backend(backend, args, url, trained)
        results["backends"][backend] = {"clients": per_clients}
        rows += brows
        for k, v in per_clients.items():
            prod = v["summary"]["product"]
            ok = prod["ratio_to_floor"] >= 0.7
            targets[f"{backend}_ratio_to_floor_ge_0.7_at_{k}"] = ok
            trows.append([f"{backend}: req/s ≥ 70% of the floor ({k} client(s))", prod["ratio_to_floor"],
                          c.verdict(ok)])
            trows.append([f"{backend}: req/s × the same-rows floor ({k} client(s))", prod["ratio_to_rows"],
                          "(no target)"])
            ok = prod["p50_over_floor_ms"] <= 2.0
            targets[f"{backend}_p50_within_2ms_of_floor_at_{k}"] = ok
            trows.append([f"{backend}: p50 ≤ floor p50 + 2 ms ({k} client(s)), ms above the floor",
                          prod["p50_over_floor_ms"], c.verdict(ok)])
        if backend == "pg":
            ort_res = bare_ort(artifact, spec)
            results["bare_ort"] = ort_res
            rows.append(["bare ORT session.run, 1 row (in process)", ort_res["calls_per_s"], None, None, None,
                         ort_res["p50_ms"], ort_res["p99_ms"], 0])
            if not args.no_breakdown:
                artifacts = (c.TMP / "predict_http_pg" / "artifacts").resolve()
                breakdown = c.retry("in-process breakdown",
                                    lambda u=url, a=artifacts, t=token: in_process(u, a, t), url)
                results["in_process_p50_ms"] = breakdown
                for name, p50 in breakdown.items():
                    rows.append([f"in process (no HTTP): {name}", None, None, None, None, p50, None, None])
    c.table(f"single prediction, median of {args.repeats}",
            ["variant", "req/s", "× floor", "× same rows", "× bare POST", "p50 ms", "p99 ms", "errors"], rows)
    results["targets"] = targets
    c.table("targets", ["target", "value", "met"], trows)
    c.save("predict_http", results, args.out)


if __name__ == "__main__":
    main()
