"""Single prediction over HTTP vs a bare FastAPI pydantic POST endpoint and a bare onnxruntime session.

  product   POST /v1/models/fraud/predictions with one event (unique external_id each request): bearer-token
            authentication, validation, champion lookup, ORT scoring, routing, prediction + decision + outbox
            rows (or a review item) in one commit, pydantic response — uvicorn subprocess, PostgreSQL
  bare      POST /predict on a bare FastAPI app: the same body validated by an equivalent pydantic model,
            a response of the same shape, nothing scored or stored — uvicorn subprocess, same flags
  ort       one-row session.run on the same model file in this process (no HTTP)
Load: wrk, one thread, 1 connection (low load) and 8 connections, closed loop; variants alternate per repeat.

    .venv/bin/python bench/predict_http.py
"""

from __future__ import annotations

import json
import time
import uuid
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


def main() -> None:
    p = c.parser(__doc__.splitlines()[0])
    p.add_argument("--clients", default="1,8", help="concurrent connections, comma separated")
    p.add_argument("--seconds", type=float, default=8.0)
    args = p.parse_args()
    url = c.pg_url_checked(args.pg_url)
    info = c.machine(url)
    c.print_machine(info)
    artifacts = (c.TMP / "predict_http" / "artifacts").resolve()
    trained = c.trained_fraud()

    def build() -> tuple[str, Any]:
        c.reset_pg(url)
        ctx = c.make_ctx(url, artifacts)
        c.install_version(ctx, trained)
        _, token = c.principal(ctx, "bench-shop", "integration", token=True)
        ctx.engine.dispose()
        return token, ctx.registry.model("fraud")

    token, spec = c.retry("build", build, url)
    artifact = str(artifacts / "fraud" / str(trained["version"]) / "model.onnx")

    product_env = c.bench_env({
        "REVIEWQUEUE_ENVIRONMENT": "test", "REVIEWQUEUE_DATABASE_URL": url,
        "REVIEWQUEUE_ARTIFACT_DIR": str(artifacts), "REVIEWQUEUE_MODEL_MODULES": '["models.fraud"]',
    })
    servers = {
        "product": c.Server("predict-product", "reviewqueue.api.main:app", product_env, 1),
        "bare": c.Server("predict-bare", "bare_app:app", c.bench_env({"RQ_BENCH_BARE_DSN": c.psycopg_dsn(url)}), 1),
    }
    routes = {"product": ("/v1/models/fraud/predictions", {"Authorization": f"Bearer {token}"}),
              "bare": ("/predict", {})}

    def load(variant: str, clients: int, seconds: float) -> c.LoadResult:
        s = servers[variant]
        path, headers = routes[variant]
        tag = uuid.uuid4().hex[:10]

        def fallback(conns: int, secs: float) -> c.LoadResult:
            return c.httpx_load(lambda cl, n: cl.post(s.url + path, content=body(tag, n),
                                                      headers={**headers, "Content-Type": "application/json"}),
                                conns, secs)

        return c.run_load(s.url, script(path, headers, tag), clients, seconds, fallback)

    results: dict[str, Any] = {"machine": info, "args": vars(args) | {"out": str(args.out)}, "clients": {}}
    rows = []
    try:
        for s in servers.values():
            s.start()
        for v in servers:  # warm-up: ORT session loaded, statements prepared
            load(v, 2, 2)
        # the warm-up's rows give the planner real statistics (this server runs autovacuum off; with none, the
        # idempotency lookup's generic plan scanned every prediction of the model, ~1 ms and growing)
        c.vacuum_analyze(url, "predictions", "review_items", "decisions", "outbox_actions")
        for clients in [int(x) for x in args.clients.split(",") if x]:
            c.console.rule(f"{clients} client(s)")
            runs = []
            for r in range(args.repeats):
                for v in c.rotate(list(servers), r):
                    res = c.retry(f"{v} {clients} clients repeat {r}",
                                  lambda v=v, clients=clients: c.checked(load(v, clients, args.seconds)), url)
                    runs.append({"variant": v, "repeat": r, **res.as_dict()})
                    c.console.print(f"[dim]  repeat {r} {v:8s} {res.rps:8.0f} req/s  p50 {res.p50_ms:.2f} ms  "
                                    f"p99 {res.p99_ms:.2f} ms  errors {res.errors}[/dim]")
            summary = {}
            for v in servers:
                mine = [x for x in runs if x["variant"] == v]
                summary[v] = {k: c.med(x[k] for x in mine) for k in ("rps", "p50_ms", "p90_ms", "p99_ms")}
                summary[v]["errors"] = sum(x["errors"] for x in mine)
            summary["product"]["ratio_to_bare"] = c.ratio(summary["product"]["rps"], summary["bare"]["rps"])
            summary["product"]["p50_over_bare_ms"] = summary["product"]["p50_ms"] - summary["bare"]["p50_ms"]
            results["clients"][str(clients)] = {"runs": runs, "summary": summary}
            for v in ("bare", "product"):
                rows.append([f"{v}, {clients} client(s)", summary[v]["rps"],
                             summary[v].get("ratio_to_bare", 1.0), summary[v]["p50_ms"], summary[v]["p99_ms"],
                             summary[v]["errors"]])
    finally:
        for s in servers.values():
            s.stop()
    ort_res = bare_ort(artifact, spec)
    results["bare_ort"] = ort_res
    rows.append(["bare ORT session.run, 1 row (in process)", ort_res["calls_per_s"], None, ort_res["p50_ms"],
                 ort_res["p99_ms"], 0])
    breakdown = c.retry("in-process breakdown", lambda: in_process(url, artifacts, token), url)
    results["in_process_p50_ms"] = breakdown
    for name, p50 in breakdown.items():
        rows.append([f"in process (no HTTP): {name}", None, None, p50, None, None])
    c.table(f"single prediction, median of {args.repeats}",
            ["variant", "req/s", "× bare POST", "p50 ms", "p99 ms", "errors"], rows)
    low = results["clients"].get("1", {}).get("summary")
    targets: dict[str, Any] = {}
    trows = []
    for k, v in results["clients"].items():
        ok = v["summary"]["product"]["ratio_to_bare"] >= 0.7
        targets[f"ratio_ge_0.7_at_{k}"] = ok
        trows.append([f"req/s ≥ 70% of bare POST ({k} client(s))", v["summary"]["product"]["ratio_to_bare"],
                      c.verdict(ok)])
    if low:
        ok = low["product"]["p50_over_bare_ms"] <= 2.0
        targets["p50_within_2ms_low_load"] = ok
        trows.append(["p50 ≤ bare p50 + 2 ms (1 client), ms above bare", low["product"]["p50_over_bare_ms"],
                      c.verdict(ok)])
    results["targets"] = targets
    c.table("targets", ["target", "value", "met"], trows)
    c.save("predict_http", results, args.out)


if __name__ == "__main__":
    main()
