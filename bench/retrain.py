"""Fraud model retrain with N labels (default 100k) → ONNX → evaluate vs champion → promote, end to end.

  product   reviewqueue.services.training.train_version(ctx, spec, trigger="manual") on PostgreSQL holding the
            champion (fraud v1) and N reviewer labels on N predictions; phases from its progress callback
  bare      the same estimator (the model's own train function) fitted on the same rows already encoded as a
            float32 matrix, exported with skl2onnx and scored on the same holdout with onnxruntime — no
            database, no label de-duplication, no champion comparison, nothing stored

    .venv/bin/python bench/retrain.py                  # 100k labels
    .venv/bin/python bench/retrain.py --labels 20000
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any

import numpy as np

import common as c

PHASES = ["loading data", "training", "exporting to ONNX", "evaluating", "storing version", "done"]
PHASE_NAMES = {"loading data": "collect labels + run row", "training": "load base data + encode",
               "exporting to ONNX": "fit", "evaluating": "export ONNX", "storing version": "evaluate both",
               "done": "store + promote"}


def seed_labels(url: str, version_id: int, n: int) -> None:
    """n predictions with realistic features and one reviewer label each (COPY)."""
    import psycopg

    from models.fraud import synthetic_transactions

    frame = synthetic_transactions(n=n, seed=99)
    now = datetime.now(UTC)
    features = frame.drop(columns="label").to_dict("records")
    with psycopg.connect(c.psycopg_dsn(url)) as conn:
        with conn.cursor() as cur:
            with cur.copy("COPY predictions (model_name, external_id, version_id, score, route, audited, features, "
                          "context, created_at) FROM STDIN") as copy:
                for i, f in enumerate(features):
                    clean = {k: (v.item() if hasattr(v, "item") else v) for k, v in f.items()}
                    copy.write_row(("fraud", f"lbl-{i}", version_id, 0.5, "review", False, json.dumps(clean),
                                    json.dumps({"charge_id": f"ch_l{i}", "user_id": f"u{i}", "currency": "usd"}), now))
            cur.execute("CREATE TEMP TABLE bench_y (external_id text, value text)")
            with cur.copy("COPY bench_y FROM STDIN") as copy:
                for i, y in enumerate(frame["label"].tolist()):
                    copy.write_row((f"lbl-{i}", "fraud" if y else "legit"))
            cur.execute("INSERT INTO labels (prediction_id, model_name, value, source, actor, created_at) "
                        "SELECT p.id, 'fraud', y.value, 'reviewer', 'bench', %s FROM predictions p "
                        "JOIN bench_y y USING (external_id) ORDER BY p.id", (now,))
        conn.commit()


def run_product(ctx: Any) -> dict[str, Any]:
    from reviewqueue.services import training

    marks: list[tuple[str, float]] = []
    t0 = time.perf_counter()
    result = training.train_version(ctx, ctx.registry.model("fraud"), trigger="manual",
                                    progress=lambda step, _f: marks.append((step, time.perf_counter())))
    total = time.perf_counter() - t0
    if result.error:
        raise RuntimeError(f"training failed: {result.error}")
    phases: dict[str, float] = {}
    previous = t0
    for step, at in marks:
        if step in PHASE_NAMES:
            phases[PHASE_NAMES[step]] = at - previous
        previous = at
    return {"variant": "product", "seconds": total, "phases": phases, "promoted": result.promoted,
            "version": result.version, "roc_auc": result.candidate_metrics.get("roc_auc")}


def bare_data(ctx: Any) -> tuple[Any, Any, np.ndarray, np.ndarray]:
    """The same rows the product trains and evaluates on, encoded once, outside the timed section."""
    from reviewqueue.kinds import tabular
    from reviewqueue.services import training

    spec = ctx.registry.model("fraud")
    labelled = training.collect_labels(ctx, spec)
    base_train, base_holdout = tabular.base_split(spec)
    train = tabular.encode_frame(spec, tabular.concat(base_train, labelled.train))
    holdout = tabular.encode_frame(spec, tabular.concat(base_holdout, labelled.holdout))
    return spec, train, holdout[spec.features.names].to_numpy(np.float32), holdout["label"].to_numpy()


def run_bare(spec: Any, train: Any, x_holdout: np.ndarray, y_holdout: np.ndarray) -> dict[str, Any]:
    import onnxruntime as ort
    from skl2onnx import to_onnx
    from sklearn.metrics import roc_auc_score

    frame = train.copy()
    t0 = time.perf_counter()
    estimator = spec.train(frame)
    t_fit = time.perf_counter()
    onx = to_onnx(estimator, x_holdout[:1], options={id(estimator): {"zipmap": False}}, target_opset=17)
    model_bytes = onx.SerializeToString()
    t_export = time.perf_counter()
    session = ort.InferenceSession(model_bytes, providers=["CPUExecutionProvider"])
    scores = np.asarray(session.run(None, {session.get_inputs()[0].name: x_holdout})[-1])[:, 1]
    auc = float(roc_auc_score(y_holdout, scores))
    t_end = time.perf_counter()
    return {"variant": "bare", "seconds": t_end - t0, "phases": {"fit": t_fit - t0, "export ONNX": t_export - t_fit,
                                                                 "evaluate both": t_end - t_export},
            "roc_auc": auc}


def main() -> None:
    p = c.parser(__doc__.splitlines()[0])
    p.add_argument("--labels", type=int, default=100_000)
    p.set_defaults(repeats=2)
    args = p.parse_args()
    url = c.pg_url_checked(args.pg_url)
    info = c.machine(url)
    c.print_machine(info)
    artifacts = (c.TMP / "retrain" / "artifacts").resolve()
    t0 = time.perf_counter()

    def build() -> Any:
        c.reset_pg(url)
        ctx = c.make_ctx(url, artifacts)
        version_id = c.install_version(ctx, c.trained_fraud())
        seed_labels(url, version_id, args.labels)
        c.vacuum_analyze(url, "predictions", "labels")
        return ctx

    ctx = c.retry("build", build, url)
    c.console.print(f"[dim]seeded {args.labels:,} labels in {time.perf_counter() - t0:.1f} s[/dim]")
    spec, train, x_holdout, y_holdout = c.retry("bare data", lambda: bare_data(ctx), url)
    c.console.print(f"[dim]training rows {len(train):,}, holdout rows {len(x_holdout):,}[/dim]")
    runs = []
    for r in range(args.repeats):
        for v in c.rotate(["product", "bare"], r):
            if v == "product":
                res = c.retry(f"product repeat {r}", lambda: run_product(ctx), url)
            else:
                res = run_bare(spec, train, x_holdout, y_holdout)
            res["repeat"] = r
            runs.append(res)
            c.console.print(f"[dim]  repeat {r} {v:8s} {res['seconds']:.1f} s  "
                            + "  ".join(f"{k} {s:.1f}" for k, s in res["phases"].items()) + "[/dim]")
    ctx.engine.dispose()
    summary: dict[str, Any] = {}
    for v in ("bare", "product"):
        mine = [x for x in runs if x["variant"] == v]
        names = list(dict.fromkeys(k for x in mine for k in x["phases"]))
        summary[v] = {"seconds": c.med(x["seconds"] for x in mine),
                      "phases": {k: c.med(x["phases"].get(k, float("nan")) for x in mine) for k in names}}
    summary["product"]["ratio_to_bare"] = c.ratio(summary["product"]["seconds"], summary["bare"]["seconds"])
    results = {"machine": info, "args": vars(args) | {"out": str(args.out)}, "training_rows": len(train),
               "holdout_rows": len(x_holdout), "runs": runs, "summary": summary,
               "targets": {"le_60s": summary["product"]["seconds"] <= 60}}
    phase_names = list(dict.fromkeys([*summary["product"]["phases"], *summary["bare"]["phases"]]))
    c.table(f"retrain with {args.labels:,} labels, seconds, median of {args.repeats}",
            ["phase", "product", "bare"],
            [[k, summary["product"]["phases"].get(k), summary["bare"]["phases"].get(k)] for k in phase_names]
            + [["total", summary["product"]["seconds"], summary["bare"]["seconds"]],
               ["product ÷ bare", summary["product"]["ratio_to_bare"], None]])
    c.table("target", ["target", "value", "met"], [
        [f"retrain {args.labels:,} labels ≤ 60 s", summary["product"]["seconds"],
         c.verdict(results["targets"]["le_60s"])]])
    c.save("retrain", results, args.out)


if __name__ == "__main__":
    main()
